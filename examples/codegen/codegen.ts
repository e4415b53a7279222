import type { CodegenConfig } from "@graphql-codegen/cli";

// Schema-first: the committed SDL is the contract. Codegen never talks to a
// running server, so this works offline and in CI.
const config: CodegenConfig = {
  schema: "../../schema/schema.graphql",
  documents: ["src/**/*.ts", "!src/gql/**/*"],
  ignoreNoDocuments: false,
  generates: {
    "src/gql/": {
      preset: "client",
      config: {
        // Exact string-literal unions ("USER" | "ADMIN") instead of TS enums.
        enumsAsTypes: true,
        // Custom scalars: DateTimeISO travels as an ISO-8601 string; JSONObject (WebAuthn options and
        // answers) as a JSON object, to hand to the browser's WebAuthn API or @simplewebauthn/browser.
        scalars: { DateTimeISO: "string", JSONObject: "Record<string, unknown>" },
        useTypeImports: true,
        strictScalars: true,
      },
      presetConfig: {
        // Plain typed documents; no fragment-masking helpers needed here.
        fragmentMasking: false,
      },
    },
  },
};

export default config;
