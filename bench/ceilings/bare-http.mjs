// Ceiling 1: the least a server can do for `me`. node:http, the same JWT
// verification as the real server (jsonwebtoken with a KeyObject, pinned
// algorithm, iss/aud), a Map lookup of the session, a JSON answer. No
// framework, no GraphQL, no database.
import { createSecretKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import jwt from "jsonwebtoken";

const fixture = JSON.parse(readFileSync(process.env.BENCH_FIXTURE, "utf8"));
const key = createSecretKey(Buffer.from(fixture.secret, "utf8"));
const sessions = new Map(Object.entries(fixture.sessions));
const options = { algorithms: ["HS256"], issuer: fixture.issuer, audience: fixture.audience, clockTolerance: 5 };
const unauthenticated = JSON.stringify({
  errors: [{ message: "unauthenticated", extensions: { code: "UNAUTHENTICATED" } }],
});

const server = createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    let body = unauthenticated;
    try {
      const token = (req.headers.authorization ?? "").slice("Bearer ".length);
      const claims = jwt.verify(token, key, options);
      const user = sessions.get(claims.sid);
      if (user && user.id === claims.sub) body = JSON.stringify({ data: { me: user } });
    } catch {}
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" }).end(body);
  });
});
server.listen(0, "127.0.0.1", () => console.log(`listening ${server.address().port}`));
