import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SHIPPED_TEMPLATES_DIR } from "../src/config";
import { MAIL_TEMPLATES, type MailTemplate } from "../src/mail/messages";
import { COMMON_PARAMS, MailTemplates, TEMPLATE_PARAMS } from "../src/mail/templates";
import { enqueueMail, signInMail } from "./helpers/mail";
import { runToExit, tempDir } from "./helpers/process";
import { startServer } from "./helpers/server";
import { mailEnv, type SmtpSink, startSmtpSink } from "./helpers/smtp-sink";

/**
 * BEHAVIOUR.md §7: each message has a text and an HTML part from templates an
 * operator can replace (a folder, MAIL_TEMPLATES_DIR), checked at start.
 */

const CHROMIUM = "/usr/bin/chromium";
/** Gitignored: a picture of every mail as Chromium draws it, to look at. */
const SCREENSHOTS = join(__dirname, "..", "test-results", "mail");

/** A recognisable value for every placeholder a template has. */
function sampleValues(template: MailTemplate): Record<string, string> {
  const samples: Record<string, string> = {
    productName: "Acme Cloud",
    appUrl: "https://app.acme.example",
    link: `https://app.acme.example/${template}?token=tok_${template.replace(/-/g, "_")}_3f9a7c21`,
    code: "482915",
    expiresInMinutes: "17",
    newEmail: "new.address@acme.example",
  };
  const names = [...COMMON_PARAMS, ...Object.keys(TEMPLATE_PARAMS[template])];
  return Object.fromEntries(names.map((name) => [name, samples[name] ?? `value-of-${name}`]));
}

const shipped = MailTemplates.load(SHIPPED_TEMPLATES_DIR);

/** A copy of the shipped folder an operator can change. */
function operatorCopy(): string {
  const dir = join(tempDir(), "mail-templates");
  cpSync(SHIPPED_TEMPLATES_DIR, dir, { recursive: true });
  return dir;
}

describe("the shipped templates", () => {
  it.each(MAIL_TEMPLATES)(
    "%s renders every placeholder, in text and HTML, with a line for who did not ask",
    (template) => {
      const values = sampleValues(template);
      const mail = shipped.render(template, values);
      for (const part of [mail.subject, mail.text, mail.html]) expect(part).not.toMatch(/\{\{|\}\}/);
      expect(mail.subject).toContain("Acme Cloud");
      expect(mail.subject).not.toMatch(/[\r\n]/);
      for (const [name, value] of Object.entries(values)) {
        // Every param the template is given is shown, in both parts (the product's address at least in the footer).
        expect(mail.text, `${name} in ${template}.txt`).toContain(value);
        expect(mail.html, `${name} in ${template}.html`).toContain(value);
      }
      if ("link" in values) {
        // The link twice in HTML: as the button, and as text to copy when the button does not work.
        expect(mail.html.split(`href="${values.link}"`)).toHaveLength(3);
      }
      // The sign-in code never in the subject: subjects show on lock screens and in provider logs.
      if ("code" in values) expect(mail.subject).not.toContain(values.code);
      expect(mail.text).toMatch(/If (you did not|it was not you)/);
      expect(mail.html).toMatch(/If (you did not|it was not you)/);
    },
  );

  it("escapes values in HTML, and keeps the subject on one line", () => {
    const mail = shipped.render("email-change-notice", {
      ...sampleValues("email-change-notice"),
      newEmail: `"><script>alert(1)</script>@x.example`,
      productName: "Acme & Co\r\nBcc: someone@example.com",
    });
    expect(mail.html).not.toContain("<script>");
    expect(mail.html).toContain("&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;@x.example");
    expect(mail.html).toContain("Acme &amp; Co");
    expect(mail.text).toContain(`"><script>alert(1)</script>@x.example`);
    expect(mail.subject).toBe("Your Acme & Co Bcc: someone@example.com email address is about to change");
  });
});

describe("MAIL_TEMPLATES_DIR", () => {
  let sink: SmtpSink;
  beforeAll(async () => {
    sink = await startSmtpSink();
  });
  afterAll(() => sink.close());

  it("replaces the shipped templates with an operator's folder", async () => {
    const dir = operatorCopy();
    writeFileSync(join(dir, "sign-in.subject.txt"), "{{ productName }}: here is your code\n");
    writeFileSync(join(dir, "sign-in.txt"), "Code {{code}}. Link {{link}}. Open {{appUrl}} otherwise.\n");
    const server = await startServer({ ...mailEnv(sink), MAIL_TEMPLATES_DIR: dir, MAIL_PRODUCT_NAME: "Acme" });
    try {
      const to = `operator.${Date.now()}@example.com`;
      await enqueueMail(server, signInMail(to, "tok_operator_folder", "555123"));
      const mail = await sink.waitFor((m) => m.to === to);
      expect(mail.subject).toBe("Acme: here is your code");
      expect(mail.text.trim()).toBe(
        "Code 555123. Link https://app.auth.test/sign-in?token=tok_operator_folder. Open https://app.auth.test otherwise.",
      );
      // The HTML part is still the (copied) shipped one.
      expect(mail.html).toContain("555123");
    } finally {
      await server.close();
    }
  });

  it("stops the start naming the file when one is missing or uses an unknown placeholder", async () => {
    const missing = operatorCopy();
    rmSync(join(missing, "reset-password.html"));
    await expect(startServer({ ...mailEnv(sink), MAIL_TEMPLATES_DIR: missing })).rejects.toThrow(
      `mail template ${join(missing, "reset-password.html")}: cannot be read (ENOENT)`,
    );

    const unknown = operatorCopy();
    const file = join(unknown, "verify-email.txt");
    writeFileSync(file, `${readFileSync(file, "utf8")}\nYour code: {{code}}\n`);
    await expect(startServer({ ...mailEnv(sink), MAIL_TEMPLATES_DIR: unknown })).rejects.toThrow(
      new RegExp(`mail template ${file}: unknown placeholder \\{\\{code\\}\\}`),
    );

    const typo = operatorCopy();
    writeFileSync(join(typo, "sign-in.html"), "<p>{{ code }} {{link}} {link}} {{productName}</p>");
    await expect(startServer({ ...mailEnv(sink), MAIL_TEMPLATES_DIR: typo })).rejects.toThrow(
      `mail template ${join(typo, "sign-in.html")}: "{{" or "}}" that is not a placeholder`,
    );

    // The built server (npm start) exits with the message.
    const { code, output } = await runToExit(tempDir(), {
      MAIL_TEMPLATES_DIR: missing,
      ARGON2_MEMORY_KIB: "1024",
      ARGON2_TIME_COST: "1",
    });
    expect(code).toBe(1);
    expect(output).toContain(join(missing, "reset-password.html"));
    expect(output).not.toMatch(/Server listening/);
  });

  it("is not read at all with MAIL_TRANSPORT=none", async () => {
    const server = await startServer({ MAIL_TRANSPORT: "none", MAIL_TEMPLATES_DIR: join(tempDir(), "nothing-here") });
    await server.close();
  });
});

// CI installs Debian's chromium; a developer without it gets a skip, CI a failure.
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI) throw new Error(`${CHROMIUM} is missing: .ci/run installs it with apt`);

describe.skipIf(!haveChromium)("the HTML templates in Chromium", () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
    });
    mkdirSync(SCREENSHOTS, { recursive: true });
  }, 60_000);
  afterAll(() => browser?.close());

  it.each(MAIL_TEMPLATES)(
    "%s shows its button, its link as text and its code, on a phone-sized screen",
    async (template) => {
      const values = sampleValues(template);
      const { html } = shipped.render(template, values);
      const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
      try {
        // As a mail client shows it: no scripts, nothing fetched.
        await page.route("**/*", (route) => route.abort());
        await page.setContent(html, { waitUntil: "load" });
        expect(await page.title()).not.toBe("");
        expect(await page.locator("h1").isVisible()).toBe(true);
        if ("link" in values) {
          const button = page.locator("#action");
          expect(await button.isVisible()).toBe(true);
          expect(await button.getAttribute("href")).toBe(values.link);
          const box = await button.boundingBox();
          // A target a thumb can hit (WCAG 2.5.8: at least 24 × 24 CSS px).
          expect(box?.height).toBeGreaterThanOrEqual(24);
          expect(box?.width).toBeGreaterThanOrEqual(24);
          const plain = page.locator("#plain-link");
          expect(await plain.isVisible()).toBe(true);
          expect(await plain.textContent()).toBe(values.link);
        }
        if ("code" in values) {
          const code = page.locator("#code");
          expect(await code.isVisible()).toBe(true);
          expect(await code.textContent()).toBe(values.code);
          // (Runs in the page: browser globals through globalThis, as browser.test.ts does.)
          const size = await code.evaluate((el) =>
            Number.parseFloat((globalThis as any).getComputedStyle(el).fontSize),
          );
          expect(size).toBeGreaterThanOrEqual(24);
        }
        // Nothing wider than the screen (no sideways scrolling on a phone).
        expect(await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth)).toBeLessThanOrEqual(
          390,
        );
        await page.screenshot({ path: join(SCREENSHOTS, `${template}.png`), fullPage: true });
      } finally {
        await page.close();
      }
    },
  );
});
