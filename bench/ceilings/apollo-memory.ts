// Ceiling 2: the framework's own cost. Fastify + Apollo Server 5 + a
// type-graphql schema answering `me` from a Map: what the real server does
// minus the database, the limits, the security headers and the logging.
import "reflect-metadata";
import { createSecretKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { ApolloServer } from "@apollo/server";
import fastifyApollo, { fastifyApolloDrainPlugin } from "@as-integrations/fastify";
import Fastify from "fastify";
import { GraphQLError } from "graphql";
import jwt from "jsonwebtoken";
import { buildSchema, Ctx, Field, ID, ObjectType, Query, Resolver } from "type-graphql";

interface Viewer {
  id: string;
  email: string;
  roles: string[];
}
interface Context {
  viewer: Viewer | undefined;
}

@ObjectType()
class User {
  @Field(() => ID) id!: string;
  @Field(() => String) email!: string;
  @Field(() => [String]) roles!: string[];
}

@Resolver()
class MeResolver {
  @Query(() => User)
  me(@Ctx() context: Context): Viewer {
    if (!context.viewer) throw new GraphQLError("unauthenticated", { extensions: { code: "UNAUTHENTICATED" } });
    return context.viewer;
  }
}

async function main() {
  const fixture = JSON.parse(readFileSync(process.env.BENCH_FIXTURE as string, "utf8"));
  const key = createSecretKey(Buffer.from(fixture.secret, "utf8"));
  const sessions = new Map<string, Viewer>(Object.entries(fixture.sessions));
  const options = {
    algorithms: ["HS256" as const],
    issuer: fixture.issuer,
    audience: fixture.audience,
    clockTolerance: 5,
  };

  const app = Fastify({ logger: false });
  const apollo = new ApolloServer<Context>({
    schema: await buildSchema({ resolvers: [MeResolver], validate: false }),
    plugins: [fastifyApolloDrainPlugin(app)],
  });
  await apollo.start();
  await app.register(fastifyApollo(apollo), {
    context: async (request) => {
      try {
        const claims = jwt.verify(
          (request.headers.authorization ?? "").slice("Bearer ".length),
          key,
          options,
        ) as jwt.JwtPayload;
        const viewer = sessions.get(claims.sid);
        return { viewer: viewer?.id === claims.sub ? viewer : undefined };
      } catch {
        return { viewer: undefined };
      }
    },
  });
  const address = await app.listen({ port: 0, host: "127.0.0.1" });
  console.log(`listening ${new URL(address).port}`);
}

void main();
