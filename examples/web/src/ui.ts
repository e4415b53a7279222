import { CombinedGraphQLErrors } from "@apollo/client";

export const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

/** What a failed operation said, by `extensions` (never by message text). */
export interface ApiError {
  /** `extensions.code`; NETWORK_ERROR when no GraphQL answer arrived. */
  code: string;
  /** BAD_USER_INPUT: the input field at fault. */
  field?: string;
  /** RATE_LIMITED, SERVICE_UNAVAILABLE: whole seconds to wait. */
  retryAfter?: number;
  /** MFA_REQUIRED: what completes the sign-in (opaque, single-use, 5 minutes). */
  mfaToken?: string;
  /** MFA_REQUIRED: the second factors the account accepts (TOTP, RECOVERY_CODE, PASSKEY). */
  methods?: string[];
  message: string;
}

export function apiError(error: unknown): ApiError {
  if (!CombinedGraphQLErrors.is(error)) return { code: "NETWORK_ERROR", message: "" };
  const first = error.errors[0];
  const { code, field, retryAfter, mfaToken, methods } = first?.extensions ?? {};
  return {
    code: typeof code === "string" ? code : "INTERNAL_SERVER_ERROR",
    field: typeof field === "string" ? field : undefined,
    retryAfter: typeof retryAfter === "number" ? retryAfter : undefined,
    mfaToken: typeof mfaToken === "string" ? mfaToken : undefined,
    methods: Array.isArray(methods) ? methods.filter((m): m is string => typeof m === "string") : undefined,
    message: first?.message ?? "",
  };
}

/** A sentence for the codes any operation may answer; pages handle their own codes first. */
export function explain(e: ApiError): string {
  switch (e.code) {
    case "RATE_LIMITED":
      return `Too many attempts. Try again in ${e.retryAfter ?? 60} seconds.`;
    case "SERVICE_UNAVAILABLE":
      return `The service is briefly unavailable. Try again in ${e.retryAfter ?? 5} seconds.`;
    case "FEATURE_DISABLED":
      return "This server does not send email.";
    case "NETWORK_ERROR":
      return "Cannot reach the server. Check your connection and try again.";
    default:
      return "Something went wrong. Please try again.";
  }
}

/** Runs a form's action with its submit button disabled: a double click sends one request, not two. */
export function onSubmit(form: HTMLFormElement, action: (data: FormData) => Promise<void>): void {
  form.onsubmit = async (event) => {
    event.preventDefault();
    // With the button that sent it (`name`/`value`), for forms with two actions.
    const data = new FormData(form, event.submitter);
    const buttons = form.querySelectorAll<HTMLButtonElement>("button[type=submit]");
    for (const b of buttons) b.disabled = true;
    try {
      await action(data);
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  };
}
