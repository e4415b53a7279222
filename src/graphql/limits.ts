import { maxAliasesRule } from "@escape.tech/graphql-armor-max-aliases";
import { maxDepthRule } from "@escape.tech/graphql-armor-max-depth";
import { maxDirectivesRule } from "@escape.tech/graphql-armor-max-directives";
import {
  type ASTVisitor,
  type FieldNode,
  GraphQLError,
  Kind,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from "graphql";
import type { MiddlewareFn } from "type-graphql";
import type { Admission } from "../auth/sessions";
import type { GraphQLContext } from "./context";

/** The limits of BEHAVIOUR.md "Limits and abuse", checked before any resolver runs. */
export const LIMITS = {
  maxDepth: 10,
  maxAliases: 20,
  maxDirectives: 20,
  /** graphql-js stops parsing past this many tokens (Apollo's parseOptions). */
  maxTokens: 2_000,
  /** Characters in the document; checked before parsing. */
  maxDocumentLength: 10_000,
  /** List items an operation may return, through nesting and aliases (cost-limit.ts). */
  maxListItems: 1_000,
  /**
   * Characters of stored text (titles, bodies, emails, user agents) an
   * operation may return at their longest: 2 Mi, two full pages of the
   * longest notes with their owners' emails (2 × 100 × 10,454). Bounds a
   * response at about 2 MB of ASCII text; 8 MiB if every character takes 4
   * bytes of UTF-8, 12 MiB if every one is a control character that JSON
   * escapes as \u00XX; plus at most 1,000 items of ids and dates (cost-limit.ts).
   */
  maxResponseText: 2 * 1024 * 1024,
  /** Above this much stored text (ten of the longest notes) an operation is large… */
  largeResponseText: 100_000,
  /**
   * …and large operations run one at a time per instance (large-operations.ts):
   * their work is CPU on one thread, so running two at once only makes both
   * hold the event loop longer.
   */
  largeOperationsAtOnce: 1,
} as const;

/**
 * The operations that check or set a credential, rotate a token or mail one
 * (BEHAVIOUR.md §10): one per request at most, and AUTH_RATE_LIMIT_PER_MINUTE
 * per client address.
 */
export const CREDENTIAL_OPERATIONS = new Set([
  "register",
  "login",
  "refreshToken",
  "changePassword",
  "resetPassword",
  "requestPasswordReset",
  "requestSignInEmail",
  "signInWithEmailLink",
  "signInWithEmailCode",
  "finishPasskeySignIn",
  "finishOAuthSignIn",
  "verifyMfa",
  "reauthenticate",
]);

/**
 * Rejects a document asking for more than one credential operation (aliases
 * count): 1000 aliased `login`s in one request must cost one attempt's worth
 * of work, not a thousand (OWASP GraphQL CS, batching attacks).
 */
export const oneCredentialOperation: ValidationRule = (context: ValidationContext): ASTVisitor => ({
  OperationDefinition(operation) {
    const fields = rootFields(context, operation.selectionSet, new Set());
    const credential = fields.filter((field) => CREDENTIAL_OPERATIONS.has(field.name.value));
    if (credential.length > 1) {
      context.reportError(
        new GraphQLError(`An operation may contain at most one of ${[...CREDENTIAL_OPERATIONS].join(", ")}`, {
          nodes: credential,
        }),
      );
    }
  },
});

/** Root fields of an operation, through inline fragments and fragment spreads. */
function rootFields(context: ValidationContext, selectionSet: SelectionSetNode, seen: Set<string>): FieldNode[] {
  return selectionSet.selections.flatMap((selection) => {
    if (selection.kind === Kind.FIELD) return [selection];
    if (selection.kind === Kind.INLINE_FRAGMENT) return rootFields(context, selection.selectionSet, seen);
    const name = selection.name.value;
    const fragment = context.getFragment(name);
    if (!fragment || seen.has(name)) return [];
    seen.add(name);
    return rootFields(context, fragment.selectionSet, seen);
  });
}

/**
 * graphql-armor rules throw by default (envelop's style); in graphql-js
 * validation that would be a 500. Reported instead, they become the usual
 * 400 GRAPHQL_VALIDATION_FAILED, as graphql-armor's own Apollo plugin does.
 */
const reportInstead = {
  exposeLimits: true,
  propagateOnRejection: false,
  onReject: [(context: ValidationContext | null, error: GraphQLError) => context?.reportError(error)],
};

export const validationRules: ValidationRule[] = [
  maxDepthRule({ n: LIMITS.maxDepth, ignoreIntrospection: true, ...reportInstead }),
  // graphql-armor lets `__typename` aliases through by default (allowList); each one
  // is still a response key to build and send, so every alias counts (§10).
  maxAliasesRule({ n: LIMITS.maxAliases, allowList: [], ...reportInstead }),
  maxDirectivesRule({ n: LIMITS.maxDirectives, ...reportInstead }),
  oneCredentialOperation,
];

/**
 * AUTH_RATE_LIMIT_PER_MINUTE per client address, for the credential
 * operations. Counted per resolver execution, in the shared database.
 */
export const AuthRateLimit: MiddlewareFn<GraphQLContext> = async ({ context }, next) => {
  await countAuthAttempt(context)(context.em);
  return next();
};

/** The same count, on whichever connection or transaction it is given (`refreshToken` folds it into its own). */
export function countAuthAttempt(context: GraphQLContext): Admission {
  return (em) => context.services.authRateLimiter.hit(em, `auth:${context.client.ip ?? "unknown"}`);
}
