import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { errorCode, type GraphQLResponse, gql, LOGIN, register, type Tokens } from "./helpers/graphql";
import { startServer, type TestServer } from "./helpers/server";

let server: TestServer;
let user: Tokens & { email: string; password: string };
beforeAll(async () => {
  server = await startServer();
  user = await register(server.url);
  for (let i = 0; i < 3; i++) {
    await gql(
      server.url,
      "mutation($input: NoteInput!) { createNote(input: $input) { id } }",
      { input: { title: `n${i}`, body: "x".repeat(100) } },
      { token: user.accessToken },
    );
  }
});
afterAll(() => server.close());

/** `count` aliases (prefix0, prefix1, …) of `field`, each selecting `selection`. */
const aliases = (count: number, field: string, selection: string, prefix = "a") =>
  Array.from({ length: count }, (_, i) => `${prefix}${i}: ${field} ${selection}`).join(" ");
// Ids and titles: list items without much stored text (the text bound has its own tests below).
const NOTES = "{ totalCount edges { cursor node { id title } } }";

/** Runs the operation as the user and says whether the server read anything (SQL) for it. */
async function run(query: string, variables: Record<string, unknown> = {}) {
  const before = server.queries.length;
  const response = await gql(server.url, query, variables, { token: user.accessToken });
  return { response, ranSql: server.queries.slice(before).some((sql) => /^\s*select\b/i.test(sql)) };
}

function expectRefusedBeforeExecution({ response, ranSql }: { response: GraphQLResponse; ranSql: boolean }) {
  expect(response.status).toBe(400);
  expect(errorCode(response)).toBe("GRAPHQL_VALIDATION_FAILED");
  expect(response.body.errors?.[0]?.message).toMatch(/at most 1000/);
  expect(response.body.data).toBeUndefined();
  // Not even the access token's session was looked up: nothing ran.
  expect(ranSql).toBe(false);
}

function expectAnswered({ response }: { response: GraphQLResponse }) {
  expect(response.body.errors).toBeUndefined();
  expect(response.status).toBe(200);
}

describe("cost limit: at most 1,000 list items per operation, through nesting and aliases", () => {
  it("refuses 20 aliases of notes(first: 100) before execution, and allows 10 (exactly 1,000)", async () => {
    expectRefusedBeforeExecution(await run(`{ ${aliases(20, "notes(first: 100)", NOTES)} }`));
    expectRefusedBeforeExecution(await run(`{ ${aliases(11, "notes(first: 100)", NOTES)} }`));
    const allowed = await run(`{ ${aliases(10, "notes(first: 100)", NOTES)} }`);
    expectAnswered(allowed);
    expect(allowed.response.body.data?.a9.edges).toHaveLength(3);
    // The control: an operation that runs is seen reading, so "nothing ran" above can fail.
    expect(allowed.ranSql).toBe(true);
  });

  it("counts a page by its `first` whatever is selected in it: its resolver loads the rows", async () => {
    expectRefusedBeforeExecution(await run(`{ ${aliases(11, "notes(first: 100)", "{ totalCount }")} }`));
    // Without `first`, a page is its default of 20: 20 aliases are 400 items.
    expectAnswered(await run(`{ ${aliases(20, "notes", NOTES)} }`));
  });

  it("multiplies nested lists: each note's owner has up to 2 roles", async () => {
    // 100 notes + 100 × 2 roles = 300 per alias.
    const nested = "{ edges { node { id owner { id roles } } } }";
    expectAnswered(await run(`{ ${aliases(3, "notes(first: 100)", nested)} }`));
    expectRefusedBeforeExecution(await run(`{ ${aliases(4, "notes(first: 100)", nested)} }`));
    // The same four without roles are 400 items: the nesting, not the aliases, is what was refused.
    expectAnswered(await run(`{ ${aliases(4, "notes(first: 100)", "{ edges { node { id owner { id } } } }")} }`));
  });

  it("counts through fragments and inline fragments, and a field merged from two fragments once", async () => {
    const fragments = `
      fragment Page on Query { ${aliases(6, "notes(first: 100)", "{ edges { node { id } } }")} }
      fragment More on Query { ... on Query { ${aliases(5, "notes(first: 100)", "{ edges { node { title } } }", "m")} } }`;
    expectRefusedBeforeExecution(await run(`query { ...Page ...More } ${fragments}`));
    // The same 6 pages selected through two fragments and the query itself are resolved once: 600 items.
    const merged = await run(
      `query { ...Page ...Again ${aliases(6, "notes(first: 100)", "{ edges { node { id } } }")} }
       fragment Page on Query { ${aliases(6, "notes(first: 100)", "{ edges { node { id } } }")} }
       fragment Again on Query { ${aliases(6, "notes(first: 100)", "{ edges { node { title } } }")} }`,
    );
    expectAnswered(merged);
    expect(merged.response.body.data?.a5.edges[0].node).toEqual({ id: expect.any(String), title: expect.any(String) });
  });

  it("counts `first` given in variables by its value", async () => {
    const query = `query($n: Int) { ${aliases(11, "notes(first: $n)", NOTES)} }`;
    expectRefusedBeforeExecution(await run(query, { n: 100 }));
    expectAnswered(await run(query, { n: 90 })); // 990
    expectAnswered(await run(query, {})); // absent: the default, 20 each
    // A variable's default counts too.
    expectRefusedBeforeExecution(await run(`query($n: Int = 100) { ${aliases(11, "notes(first: $n)", NOTES)} }`));
  });

  it("skips what @skip and @include leave out, as execution does", async () => {
    const query = `query($big: Boolean!) { ${aliases(11, "notes(first: 100) @include(if: $big)", NOTES)} me { id } }`;
    expectRefusedBeforeExecution(await run(query, { big: true }));
    expectAnswered(await run(query, { big: false }));
  });

  it("counts users like notes, and sessions as a full page of 100, before checking the role", async () => {
    // Not an admin: refused for cost before FORBIDDEN could even be decided.
    expectRefusedBeforeExecution(await run(`{ ${aliases(11, "users(first: 100)", "{ edges { node { id } } }")} }`));
    expectRefusedBeforeExecution(await run(`{ ${aliases(11, "sessions", "{ id }")} }`));
    expectAnswered(await run(`{ ${aliases(10, "sessions", "{ id }")} }`));
  });

  it("lists at most the 100 most recent sessions, as the cost limit counts them", async () => {
    const many = await register(server.url);
    for (let batch = 0; batch < 11; batch++) {
      await Promise.all(
        Array.from({ length: 10 }, () => gql(server.url, LOGIN, { email: many.email, password: many.password })),
      );
    }
    const latest = await gql<{ login: Tokens }>(server.url, LOGIN, { email: many.email, password: many.password });
    const r = await gql(server.url, "{ sessions { id current } }", {}, { token: latest.body.data?.login.accessToken });
    expect(r.body.data?.sessions).toHaveLength(100);
    expect(r.body.data?.sessions[0].current).toBe(true); // newest first
    const [{ n }] = await server.sql<{ n: number }>("select count(*) as n from sessions where user_id = ?", [
      many.user.id,
    ]);
    expect(Number(n)).toBe(112);
  });
});

describe("alias cap: 20, `__typename` aliases included", () => {
  it("refuses 21 aliases of __typename and allows 20", async () => {
    const typenames = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `t${i}: __typename`).join(" ")} }`;
    expectAnswered(await run(typenames(20)));
    const refused = await run(typenames(21));
    expect(refused.response.status).toBe(400);
    expect(errorCode(refused.response)).toBe("GRAPHQL_VALIDATION_FAILED");
    expect(refused.response.body.errors?.[0]?.message).toMatch(/Aliases limit of 20 exceeded/);
    // Mixed with other fields they count the same.
    const mixed = `{ ${aliases(10, "me", "{ id }")} ${Array.from({ length: 11 }, (_, i) => `t${i}: __typename`).join(" ")} }`;
    expect(errorCode((await run(mixed)).response)).toBe("GRAPHQL_VALIDATION_FAILED");
  });
});

describe("response size: at most 2 Mi characters of stored text per operation, large operations one at a time", () => {
  const FULL = "{ edges { node { id title body owner { email } } } }";
  let writer: Tokens & { email: string; password: string };
  beforeAll(async () => {
    // 100 notes as long as notes get: 200-character titles, 10,000-character bodies.
    writer = await register(server.url);
    for (let i = 0; i < 100; i += 10) {
      await Promise.all(
        Array.from({ length: 10 }, (_, j) =>
          gql(
            server.url,
            "mutation($input: NoteInput!) { createNote(input: $input) { id } }",
            { input: { title: `${i + j}`.padEnd(200, "t"), body: "b".repeat(10_000) } },
            { token: writer.accessToken },
          ),
        ),
      );
    }
  });

  it("answers two full pages of the longest notes (about 2 MB) and refuses a third before execution", async () => {
    const two = await gql(
      server.url,
      `{ ${aliases(2, "notes(first: 100)", FULL)} }`,
      {},
      { token: writer.accessToken },
    );
    expect(two.body.errors).toBeUndefined();
    expect(two.body.data?.a1.edges).toHaveLength(100);
    // 2 × 100 × (200 + 10,000 + the email) characters, plus ids and JSON: the bound, in bytes, for ASCII text.
    expect(Buffer.byteLength(two.text)).toBeLessThan(2.2 * 1024 * 1024);

    const before = server.queries.length;
    const three = await gql(
      server.url,
      `{ ${aliases(3, "notes(first: 100)", FULL)} }`,
      {},
      { token: writer.accessToken },
    );
    expect(three.status).toBe(400);
    expect(errorCode(three)).toBe("GRAPHQL_VALIDATION_FAILED");
    expect(three.body.errors?.[0]?.message).toMatch(/at most 2097152 are allowed/);
    expect(server.queries.slice(before).some((sql) => /^\s*select\b/i.test(sql))).toBe(false);
    // 3 pages of titles only are fine: 60,000 characters.
    const titles = await gql(
      server.url,
      `{ ${aliases(3, "notes(first: 100)", "{ edges { node { title } } }")} }`,
      {},
      { token: writer.accessToken },
    );
    expect(titles.body.errors).toBeUndefined();
  });

  it("counts text through variables and nesting, at its longest whatever is stored", async () => {
    const query = `query($n: Int) { ${aliases(3, "notes(first: $n)", FULL)} }`;
    expect(errorCode(await gql(server.url, query, { n: 100 }, { token: user.accessToken }))).toBe(
      "GRAPHQL_VALIDATION_FAILED",
    );
    // 3 × 60 × 10,454 = 1,881,720: allowed, though this user's notes are short.
    expect((await gql(server.url, query, { n: 60 }, { token: user.accessToken })).body.errors).toBeUndefined();
  });

  it("answers `me` while 30 large operations wait their turn, instead of after all of them", async () => {
    const page = `{ notes(first: 100) ${FULL} }`;
    // 31 open keep-alive connections first, so the 30 large requests arrive together, as an attacker's would.
    await Promise.all(Array.from({ length: 31 }, () => gql(server.url, "{ __typename }")));
    // What finished after `me` was sent: the large operations done before it say nothing about waiting.
    const finished: string[] = [];
    let meSent = false;
    const before = server.queries.length;
    const large = Array.from({ length: 30 }, () =>
      gql(server.url, page, {}, { token: writer.accessToken }).then((r) => {
        expect(r.body.data?.notes.edges).toHaveLength(100);
        if (meSent) finished.push("large");
      }),
    );
    // `me` once the first large operation reads (the others are queued by then), not after a fixed delay.
    await vi.waitFor(() => expect(server.queries.length).toBeGreaterThan(before), { interval: 1, timeout: 10_000 });
    meSent = true;
    const me = gql(server.url, "{ me { id } }", {}, { token: user.accessToken }).then((r) => {
      expect(r.body.data?.me.id).toBe(user.user.id);
      finished.push("me");
    });
    await Promise.all([...large, me]);
    // Without the gate, on SQLite every large operation read with the others ran before `me` was even read.
    expect(finished.indexOf("me")).toBeLessThanOrEqual(2);
  });
});
