// Loads every docs page of a running gateway in a real browser (the machine's chromium, driven by
// playwright-core) and reports, as one JSON line on stdout, what tests/docs/test_browser.py
// asserts: console errors, requests to another host, operations shown, the "try it" answer,
// topics listed, the page a real 422's `type` opens. Screenshots go to the given folder.
//
// usage: node browser_check.mjs <base URL> <screenshot dir> [chromium path]
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [base, shots, executablePath = "/usr/bin/chromium"] = process.argv.slice(2);
const origin = new URL(base).origin;
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const report = { pages: {}, bytes: {} };

function watch(page, name) {
  const seen = { consoleErrors: [], foreignRequests: [], failedRequests: [], bytes: 0 };
  page.on("console", (msg) => {
    if (msg.type() === "error") seen.consoleErrors.push(msg.text());
  });
  page.on("pageerror", (err) => seen.consoleErrors.push(String(err)));
  page.on("request", (req) => {
    const url = req.url();
    if (!url.startsWith("data:") && new URL(url).origin !== origin) seen.foreignRequests.push(url);
  });
  page.on("requestfailed", (req) => seen.failedRequests.push(req.url()));
  page.on("response", async (res) => {
    try {
      seen.bytes += (await res.body()).length;
    } catch {
      // a redirect or an aborted response has no body
    }
  });
  report.pages[name] = seen;
  return seen;
}

async function visit(name, path, ready) {
  const page = await context.newPage();
  const seen = watch(page, name);
  const response = await page.goto(new URL(path, base).href, { waitUntil: "networkidle" });
  seen.status = response.status();
  seen.csp = response.headers()["content-security-policy"] || "";
  if (ready) await ready(page, seen);
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: name !== "api" && name !== "events" });
  return page;
}

// A user and a token, as the start page shows.
const email = `docs-${Date.now()}-${Math.floor(Math.random() * 1e6)}@example.com`;
const signup = await context.request.post(`${base}/v1/auth/signup`, {
  headers: { "Idempotency-Key": `docs-browser-${email}` },
  data: { email, password: "correct horse battery staple", display_name: "Docs", org_name: "Docs" },
});
report.signupStatus = signup.status();
const token = signup.ok() ? (await signup.json()).access_token : "";

await visit("start", "/docs/", async (page, seen) => {
  seen.headings = await page.locator("h2").allTextContents();
});

const api = await visit("api", "/docs", async (page, seen) => {
  await page.locator(".opblock").first().waitFor({ timeout: 60000 });
  seen.operations = await page.locator(".opblock .opblock-summary-path").evaluateAll((nodes) =>
    nodes.map((n) => `${n.closest(".opblock").querySelector(".opblock-summary-method").textContent.trim().toLowerCase()} ${n.getAttribute("data-path")}`),
  );
});
{
  // "Try it out" on GET /v1/me with the bearer token.
  const page = api;
  const seen = report.pages.api;
  await page.locator("button.authorize").first().click();
  await page.locator(".modal-ux input[type=text], .modal-ux input[type=password]").first().fill(token);
  await page.locator(".modal-ux button.authorize").first().click();
  await page.locator(".modal-ux button.btn-done").first().click();
  const me = page.locator(".opblock-get").filter({ has: page.locator('.opblock-summary-path[data-path="/v1/me"]') }).first();
  await me.locator(".opblock-summary").click();
  await me.locator("button.try-out__btn").click();
  await me.locator("button.execute").click();
  const status = me.locator(".live-responses-table tbody .response-col_status").first();
  await status.waitFor({ timeout: 30000 });
  seen.tryItStatus = (await status.textContent()).trim();
  seen.tryItBody = (await me.locator(".live-responses-table .microlight, .live-responses-table pre").first().textContent()).slice(0, 400);
  await me.scrollIntoViewIfNeeded();
}
await api.screenshot({ path: join(shots, "api-try-it.png") });

await visit("events", "/docs/events", async (page, seen) => {
  seen.topics = await page.locator("h2.topic-name").allTextContents();
});
await visit("errors", "/docs/errors/", async (page, seen) => {
  seen.codes = await page.locator("table.codes tbody tr").count();
});

// A real 422: its `type` is the page that explains it.
const invalid = await context.request.post(`${base}/v1/auth/signup`, { data: {} });
const problem = await invalid.json();
report.problem = { status: invalid.status(), type: problem.type, code: problem.code };
await visit("error-page", problem.type, async (page, seen) => {
  seen.title = (await page.locator("h1").textContent()).trim();
});

await browser.close();
process.stdout.write(JSON.stringify(report) + "\n");
