import { readFileSync } from "node:fs";
import { join } from "node:path";
import { MAIL_TEMPLATES, type MailParams, type MailTemplate } from "./messages";

/**
 * The placeholders each template may use: its params (mail/messages.ts) and
 * what every template gets. Typed against MailParams, so a param added there
 * and not here is a compile error.
 */
export const TEMPLATE_PARAMS: { [T in MailTemplate]: Record<keyof MailParams[T], true> } = {
  "verify-email": { link: true, expiresInMinutes: true },
  "reset-password": { link: true, expiresInMinutes: true },
  "password-changed": {},
  "email-change-confirm": { link: true, newEmail: true, expiresInMinutes: true },
  "email-change-notice": { newEmail: true },
  "sign-in": { link: true, code: true, expiresInMinutes: true },
  "second-factor-added": { factor: true },
  "second-factor-removed": { factor: true },
  "recovery-code-used": { remaining: true },
  "second-factors-reset": {},
  "provider-linked": { provider: true },
  "provider-unlinked": { provider: true },
};

/** Given to every template besides its own params. */
export const COMMON_PARAMS = ["productName", "appUrl"] as const;

/** The three files of a template: `NAME.subject.txt`, `NAME.txt`, `NAME.html`. */
const PARTS = { subject: "subject.txt", text: "txt", html: "html" } as const;
type Part = keyof typeof PARTS;

/** `{{name}}`, optionally with spaces inside the braces. */
const PLACEHOLDER = /\{\{\s*([A-Za-z][A-Za-z0-9]*)\s*\}\}/g;
/** Anything else in double braces is a typo the operator should hear about, not text a user should see. */
const BRACES = /\{\{|\}\}/;

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

export class TemplateError extends Error {
  override name = "TemplateError";
}

/**
 * The mail templates, read and checked once at start: each template's three
 * files exist, and each uses only the placeholders it is given. A missing
 * file or an unknown placeholder stops the start naming the file, rather
 * than sending a broken mail later.
 *
 * Rendering is plain substitution of `{{name}}`: no logic, no includes, no
 * engine to depend on. Values are HTML-escaped in the `.html` part; in the
 * subject, line breaks become spaces (a header never gains a line).
 */
export class MailTemplates {
  private constructor(private readonly files: Record<MailTemplate, Record<Part, string>>) {}

  static load(dir: string): MailTemplates {
    const files = {} as Record<MailTemplate, Record<Part, string>>;
    for (const template of MAIL_TEMPLATES) {
      const allowed = new Set<string>([...COMMON_PARAMS, ...Object.keys(TEMPLATE_PARAMS[template])]);
      const parts = {} as Record<Part, string>;
      for (const part of Object.keys(PARTS) as Part[]) {
        const file = join(dir, `${template}.${PARTS[part]}`);
        let body: string;
        try {
          body = readFileSync(file, "utf8");
        } catch (error) {
          throw new TemplateError(`mail template ${file}: cannot be read (${(error as NodeJS.ErrnoException).code})`);
        }
        for (const [, name] of body.matchAll(PLACEHOLDER)) {
          if (!allowed.has(name as string)) {
            throw new TemplateError(
              `mail template ${file}: unknown placeholder {{${name}}}; ${template} has ${[...allowed].map((n) => `{{${n}}}`).join(", ")}`,
            );
          }
        }
        if (BRACES.test(body.replace(PLACEHOLDER, ""))) {
          throw new TemplateError(`mail template ${file}: "{{" or "}}" that is not a placeholder like {{productName}}`);
        }
        if (part === "subject" && body.trim() === "")
          throw new TemplateError(`mail template ${file}: the subject is empty`);
        parts[part] = body;
      }
      files[template] = parts;
    }
    return new MailTemplates(files);
  }

  /** The mail for `template` with `values` (its params and the common ones) filled in. */
  render(template: MailTemplate, values: Record<string, string>): RenderedMail {
    const files = this.files[template];
    const fill = (body: string, encode: (value: string) => string) =>
      body.replace(PLACEHOLDER, (_, name: string) => {
        const value = values[name];
        if (value === undefined) throw new TemplateError(`mail template ${template}: no value for {{${name}}}`);
        return encode(value);
      });
    return {
      subject: fill(files.subject, (v) => v.replace(/[\r\n]+/g, " "))
        .replace(/\s+/g, " ")
        .trim(),
      text: fill(files.text, (v) => v),
      html: fill(files.html, escapeHtml),
    };
  }
}

/** Text as HTML, in element content and in quoted attribute values alike. */
export function escapeHtml(value: string): string {
  return value
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}
