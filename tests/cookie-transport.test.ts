import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorCode, gql, LOGOUT, me, newCredentials, REFRESH, REFRESH_TOKEN_SHAPE, REGISTER } from "./helpers/graphql";
import { startServer, type TestServer } from "./helpers/server";

const COOKIE = "__Secure-refresh_token";

/** The refresh-token cookie a response sets, parsed; undefined when it sets none. */
function setCookie(headers: Headers) {
  const raw = headers.getSetCookie().find((c) => c.startsWith(`${COOKIE}=`));
  if (raw === undefined) return undefined;
  const [pair, ...attributes] = raw.split(";").map((s) => s.trim());
  const attrs = Object.fromEntries(attributes.map((a) => a.split("=")).map(([k, v]) => [k!.toLowerCase(), v ?? true]));
  return { value: pair!.slice(COOKIE.length + 1), attrs };
}
const withCookie = (value: string) => ({ headers: { cookie: `${COOKIE}=${value}` } });

describe("REFRESH_TOKEN_TRANSPORT=cookie", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ REFRESH_TOKEN_TRANSPORT: "cookie" });
  });
  afterAll(() => server.close());

  async function signUp() {
    const r = await gql(server.url, REGISTER, newCredentials("cookie"));
    const cookie = setCookie(r.headers);
    if (!cookie) throw new Error(`no cookie: ${r.text}`);
    return { payload: r.body.data!.register, cookie, response: r };
  }

  it("sets the token as an HttpOnly, Secure, SameSite=Strict cookie for /graphql, and not in the body", async () => {
    const { payload, cookie } = await signUp();
    expect(payload.refreshToken).toBeNull();
    expect(cookie.value).toMatch(REFRESH_TOKEN_SHAPE);
    expect(cookie.attrs).toMatchObject({ httponly: true, secure: true, samesite: "Strict", path: "/graphql" });
    const expires = new Date(String(cookie.attrs.expires)).getTime();
    expect(Math.abs(expires - new Date(payload.refreshTokenExpiresAt).getTime())).toBeLessThan(1_000);
  });

  it("refreshes from the cookie when the argument is omitted, rotating the cookie", async () => {
    const { payload, cookie } = await signUp();
    const r = await gql(
      server.url,
      "mutation { refreshToken { accessToken refreshToken user { id } } }",
      {},
      withCookie(cookie.value),
    );
    expect(r.body.data?.refreshToken).toMatchObject({ refreshToken: null, user: { id: payload.user.id } });
    expect(r.headers.get("cache-control")).toBe("no-store");
    const next = setCookie(r.headers);
    expect(next?.value).toMatch(REFRESH_TOKEN_SHAPE);
    expect(next?.value).not.toBe(cookie.value);
    expect((await me(server.url, r.body.data!.refreshToken.accessToken)).body.data?.me.id).toBe(payload.user.id);
  });

  it("logs out from the cookie, clears it, and the old cookie no longer works", async () => {
    const { payload, cookie } = await signUp();
    const out = await gql(server.url, "mutation { logout }", {}, withCookie(cookie.value));
    expect(out.body).toEqual({ data: { logout: true } });
    const cleared = setCookie(out.headers);
    expect(cleared?.value).toBe("");
    expect(new Date(String(cleared?.attrs.expires)).getTime()).toBeLessThanOrEqual(Date.now());
    expect(errorCode(await me(server.url, payload.accessToken))).toBe("UNAUTHENTICATED");
    const again = await gql(server.url, "mutation { refreshToken { accessToken } }", {}, withCookie(cookie.value));
    expect(errorCode(again)).toBe("INVALID_REFRESH_TOKEN");
    expect(setCookie(again.headers)?.value).toBe("");
  });

  it("clears the cookie and ends the session when a rotated cookie comes back", async () => {
    const { cookie } = await signUp();
    const first = await gql(server.url, "mutation { refreshToken { accessToken } }", {}, withCookie(cookie.value));
    const next = setCookie(first.headers)!.value;
    await gql(server.url, "mutation { refreshToken { accessToken } }", {}, withCookie(next));
    const reused = await gql(server.url, "mutation { refreshToken { accessToken } }", {}, withCookie(cookie.value));
    expect(errorCode(reused)).toBe("REFRESH_TOKEN_REUSED");
    expect(setCookie(reused.headers)?.value).toBe("");
  });

  it("answers INVALID_REFRESH_TOKEN with neither argument nor cookie", async () => {
    expect(errorCode(await gql(server.url, "mutation { refreshToken { accessToken } }"))).toBe("INVALID_REFRESH_TOKEN");
    expect(errorCode(await gql(server.url, "mutation { logout }"))).toBe("INVALID_REFRESH_TOKEN");
  });

  it("keeps CSRF prevention on: a text/plain refresh carrying the cookie is refused", async () => {
    const { cookie } = await signUp();
    const r = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "text/plain", cookie: `${COOKIE}=${cookie.value}` },
      body: JSON.stringify({ query: "mutation { refreshToken { accessToken } }" }),
    });
    expect(r.status).toBe(400);
    expect(r.headers.getSetCookie()).toEqual([]);
    // The cookie still works for a legitimate request.
    expect(
      errorCode(await gql(server.url, "mutation { refreshToken { accessToken } }", {}, withCookie(cookie.value))),
    ).toBeUndefined();
  });
});

describe("REFRESH_TOKEN_TRANSPORT=both", () => {
  it("puts the token in the body and in the cookie", async () => {
    const server = await startServer({ REFRESH_TOKEN_TRANSPORT: "both" });
    try {
      const r = await gql(server.url, REGISTER, newCredentials());
      expect(setCookie(r.headers)?.value).toBe(r.body.data?.register.refreshToken);
      const rotated = await gql(server.url, REFRESH, { token: r.body.data?.register.refreshToken });
      expect(setCookie(rotated.headers)?.value).toBe(rotated.body.data?.refreshToken.refreshToken);
    } finally {
      await server.close();
    }
  });
});

describe("REFRESH_TOKEN_TRANSPORT=body (default)", () => {
  it("sets no cookie and ignores one", async () => {
    const server = await startServer();
    try {
      const r = await gql(server.url, REGISTER, newCredentials());
      expect(r.headers.getSetCookie()).toEqual([]);
      const token = r.body.data!.register.refreshToken as string;
      const viaCookie = await gql(server.url, "mutation { refreshToken { accessToken } }", {}, withCookie(token));
      expect(errorCode(viaCookie)).toBe("INVALID_REFRESH_TOKEN");
      expect(errorCode(await gql(server.url, LOGOUT, {}, withCookie(token)))).toBe("INVALID_REFRESH_TOKEN");
      expect(errorCode(await gql(server.url, REFRESH, { token }))).toBeUndefined();
    } finally {
      await server.close();
    }
  });
});
