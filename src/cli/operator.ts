import "reflect-metadata";
import { parseArgs } from "node:util";
import type { EntityManager } from "@mikro-orm/core";
import {
  ASYMMETRIC_ALGORITHMS,
  type AsymmetricAlgorithm,
  generatePrivateKeyPem,
  SigningKeys,
} from "../auth/signing-keys";
import { ConfigError, loadOperatorConfig, loadOperatorMailConfig } from "../config";
import { ROLES, type Role, User } from "../db/entities";
import { openDatabase } from "../db/orm";
import { AppError } from "../errors";
import { DEFAULT_MAIL_RETENTION } from "../maintenance/maintenance";
import { createOperatorServices, type OperatorServices } from "../services";

const HELP = `Operator commands for the auth server. They read DATABASE_URL (and the
lifetimes REFRESH_TOKEN_TTL, LOGIN_LOCKOUT_SECONDS…) from the environment, need
no key (but reset-mfa: SECRET_KEYS), and work while the server runs.

Usage: npm run cli -- <command> [arguments]

Commands:
  grant-role <email> <ROLE>       add a role (${ROLES.join(", ")}) to a user
  revoke-role <email> <ROLE>      remove a role (everyone keeps USER)
  list-users [--json]             every user, oldest first, with roles and active sessions
  revoke-sessions <email>         end every session of a user (signs them out everywhere)
  reset-mfa <email>               remove every second factor of a user (authenticator app, recovery
                                  codes, passkeys) for support, and mail them a notice; ends no
                                  session. Needs the server's SECRET_KEYS (the notice is sealed
                                  with it), and reads MAIL_TRANSPORT, MAIL_FROM, APP_URL
  gen-key <ES256|RS256>           print a new private key (PEM) for JWT_PRIVATE_KEYS; its kid on stderr
  prune [--older-than-days N]     delete sessions that ended, expired or went idle more than N
                                  days ago (default 7), in small batches; live sessions keep
                                  working; also expired login-throttle and rate-limit state
                                  (what the server does by itself every MAINTENANCE_INTERVAL)
  vacuum                          SQLite: rewrite the file compactly and let it shrink after
                                  deletes from now on; blocks the database while it runs (stop
                                  the server first for a large file)

Exit codes: 0 done, 1 failed (unknown email, database error), 2 usage error.`;

class UsageError extends Error {}

interface Invocation {
  em: EntityManager;
  services: OperatorServices;
  args: string[];
  json: boolean;
  olderThanDays: number;
}

/** Commands that need neither configuration nor database. */
const standalone: Record<string, (args: string[]) => string> = {
  "gen-key": (args) => {
    const algorithm = args[0]?.toUpperCase();
    if (!ASYMMETRIC_ALGORITHMS.includes(algorithm as AsymmetricAlgorithm)) {
      throw new UsageError(`gen-key needs an algorithm: ${ASYMMETRIC_ALGORITHMS.join(" or ")}`);
    }
    const pem = generatePrivateKeyPem(algorithm as AsymmetricAlgorithm);
    const kid = SigningKeys.asymmetric(algorithm as AsymmetricAlgorithm, [pem]).signing.kid;
    console.error(
      `kid ${kid}: put the key first in JWT_PRIVATE_KEYS to sign with it; keep the old key after it until its tokens expire`,
    );
    return pem.trimEnd();
  },
};

const commands: Record<string, (run: Invocation) => Promise<string>> = {
  "grant-role": async ({ em, services, args }) => {
    const user = await services.roles.grant(em, emailArg(args), roleArg(args));
    return `${user.email} now has roles ${user.roles.join(", ")}`;
  },
  "revoke-role": async ({ em, services, args }) => {
    const user = await services.roles.revoke(em, emailArg(args), roleArg(args));
    return `${user.email} now has roles ${user.roles.join(", ")}`;
  },
  "list-users": async ({ em, services, json }) => {
    const users = await em.find(User, {}, { orderBy: { createdAt: "asc", id: "asc" } });
    const rows = await Promise.all(
      users.map(async (u) => ({
        id: u.id,
        email: u.email,
        roles: u.roles,
        createdAt: u.createdAt.toISOString(),
        activeSessions: await services.sessions.countActive(em, u.id),
      })),
    );
    if (json) return JSON.stringify(rows, null, 2);
    if (rows.length === 0) return "no users";
    return rows
      .map((r) => `${r.email}\t${r.roles.join(",")}\tsessions: ${r.activeSessions}\tcreated ${r.createdAt}\t${r.id}`)
      .join("\n");
  },
  "revoke-sessions": async ({ em, services, args }) => {
    const user = await services.roles.byEmail(em, emailArg(args));
    const ended = await services.sessions.endAll(em, user.id, "OPERATOR");
    return `ended ${ended} session(s) of ${user.email}`;
  },
  "reset-mfa": async ({ em, services, args }) => {
    const email = emailArg(args);
    // Read before anything changes: without the key no notice could be queued.
    const reset = services.secondFactorReset(loadOperatorMailConfig());
    const { email: address, removed } = await reset.reset(em, email);
    if (removed.length === 0) return `${address} had no second factor; nothing changed`;
    return `removed ${removed.join(", ")} of ${address}; a notice mail is queued; sessions are untouched`;
  },
  prune: async ({ em, services, olderThanDays }) => {
    const report = await services.maintenance.run(em, { sessionRetention: olderThanDays * 86_400 });
    const { ended, expired, idle } = report.sessions;
    return [
      `deleted ${ended + expired + idle} session(s) no longer usable for ${olderThanDays}+ day(s) (ended ${ended}, expired ${expired}, idle ${idle})`,
      `deleted ${report.loginFailures} login failure(s) and ${report.rateLimitCounters} rate-limit counter(s) outside their window`,
      `deleted ${report.emailTokens} mailed token(s), ${report.mfaChallenges} MFA challenge(s) and ${report.webauthnChallenges} passkey challenge(s) used or expired`,
      `deleted ${report.mail.sent} sent and ${report.mail.failed} failed mail(s) from the outbox, older than ${DEFAULT_MAIL_RETENTION / 86_400} days`,
      ...(report.reclaimedPages > 0 ? [`gave ${report.reclaimedPages} free page(s) back to the file system`] : []),
      ...(report.yielded ? ["another instance was pruning at the same time and is finishing the rest"] : []),
    ].join("\n");
  },
  vacuum: async ({ em, services }) => {
    await services.maintenance.vacuum(em);
    return "vacuumed (SQLite; on PostgreSQL there is nothing to do: autovacuum reclaims space)";
  },
};

function emailArg(args: string[]): string {
  if (!args[0]) throw new UsageError("an email is required");
  return args[0];
}

function roleArg(args: string[]): Role {
  const role = args[1]?.toUpperCase();
  if (!ROLES.includes(role as Role)) {
    throw new UsageError(`unknown role ${JSON.stringify(args[1] ?? "")}; roles are ${ROLES.join(", ")}`);
  }
  return role as Role;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      help: { type: "boolean", short: "h" },
      json: { type: "boolean" },
      "older-than-days": { type: "string" },
    },
  });
  const [name, ...args] = positionals;
  if (values.help || name === undefined || name === "help") {
    console.log(HELP);
    return name === undefined && !values.help ? 2 : 0;
  }
  const simple = standalone[name];
  if (simple !== undefined) {
    console.log(simple(args));
    return 0;
  }
  const command = commands[name];
  if (command === undefined) throw new UsageError(`unknown command ${JSON.stringify(name)}`);
  const olderThanDays = Number(values["older-than-days"] ?? 7);
  if (!Number.isInteger(olderThanDays) || olderThanDays < 0)
    throw new UsageError("--older-than-days takes a whole number ≥ 0");

  // Only what the commands need: DATABASE_URL and the lifetimes, no key (BEHAVIOUR.md §1).
  const config = loadOperatorConfig();
  const orm = await openDatabase(config.database, { log: () => undefined });
  try {
    const services = createOperatorServices(config);
    console.log(await command({ em: orm.em.fork(), services, args, json: values.json ?? false, olderThanDays }));
    return 0;
  } finally {
    await orm.close();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError || (error instanceof TypeError && "code" in error)) {
      console.error(`error: ${error.message}\n\nRun \`npm run cli -- --help\` for usage.`);
      process.exit(2);
    }
    console.error(
      `error: ${error instanceof AppError || error instanceof ConfigError ? error.message : String(error)}`,
    );
    process.exit(1);
  },
);
