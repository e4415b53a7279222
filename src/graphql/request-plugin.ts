import type {
  ApolloServerPlugin,
  GraphQLRequestContextDidResolveOperation,
  GraphQLRequestContextWillSendResponse,
  GraphQLRequestListener,
} from "@apollo/server";
import type { GraphQLContext } from "./context";
import { OperationChecks } from "./operation-checks";
import { setUnavailableStatus } from "./unavailable-status";

/**
 * Sees each operation Apollo answered: the name it resolved to (null: it has
 * none; undefined: it never resolved, as when parsing or validation failed)
 * and the seconds from the request's start to its response.
 */
export type OperationObserver = (operationName: string | null | undefined, seconds: number) => void;

/**
 * Everything this server does at Apollo's request stages, as one plugin:
 * - the operation checks that need the variables (`operation-checks.ts`);
 * - 503 + Retry-After when the database failed the whole operation (`unavailable-status.ts`);
 * - the operation's time, to `observe` (metrics).
 *
 * One plugin, not one each: Apollo calls every plugin's listener at every
 * stage of every request and awaits each call, and three listeners cost
 * about a tenth of `me` (bench/RESULTS.md). The listener is a class, so a
 * request allocates one small object, not a closure per hook.
 */
export function requestPlugin(observe?: OperationObserver): ApolloServerPlugin<GraphQLContext> {
  const checks = new OperationChecks();
  return {
    async requestDidStart() {
      return new RequestListener(checks, observe);
    },
  };
}

class RequestListener implements GraphQLRequestListener<GraphQLContext> {
  private readonly started = performance.now();
  /** Frees the large-operation slot this request holds, if it holds one. */
  private leave: (() => void) | undefined = undefined;
  private answered = false;

  constructor(
    private readonly checks: OperationChecks,
    private readonly observe: OperationObserver | undefined,
  ) {}

  async didResolveOperation(context: GraphQLRequestContextDidResolveOperation<GraphQLContext>): Promise<void> {
    const release = await this.checks.check(context);
    if (release === undefined) return;
    // Apollo may already be answering (a listener of another plugin failed): then free the slot at once.
    if (this.answered) release();
    else this.leave = release;
  }

  async willSendResponse(context: GraphQLRequestContextWillSendResponse<GraphQLContext>): Promise<void> {
    this.answered = true;
    this.leave?.();
    this.leave = undefined;
    setUnavailableStatus(context);
    this.observe?.(
      context.operation === undefined ? undefined : (context.operationName ?? null),
      (performance.now() - this.started) / 1000,
    );
  }
}
