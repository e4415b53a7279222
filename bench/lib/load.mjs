import autocannon from "autocannon";

/**
 * One autocannon run against /graphql. A GraphQL error arrives with HTTP 200,
 * so every response body is checked for `"errors"` as well as the status.
 * `request` builds each request from a per-connection context (so a client
 * can carry its own token); `onData` sees each successful response's parsed
 * body when a scenario needs it (refresh chains).
 */
export async function load({ url, connections, duration, amount, request, onData }) {
  let graphqlErrors = 0;
  let firstError;
  const result = await autocannon({
    url: `${url}/graphql`,
    connections,
    ...(amount ? { amount } : { duration }),
    requests: [
      {
        method: "POST",
        setupRequest: (req, context) => {
          const { headers = {}, body } = request(context);
          return { ...req, headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) };
        },
        onResponse: (status, body, context) => {
          const failed = status !== 200 || body.includes('"errors"');
          if (failed) {
            graphqlErrors++;
            firstError ??= `${status} ${body.slice(0, 300)}`;
          }
          if (onData) onData(failed ? undefined : JSON.parse(body).data, context);
        },
      },
    ],
  });
  return {
    requests: result.requests.total,
    rps: result.requests.total / (result.duration || 1),
    p50: result.latency.p50,
    p99: result.latency.p99,
    // Socket errors and timeouts; any other non-200 is counted by onResponse.
    errors: result.errors + graphqlErrors,
    firstError,
  };
}
