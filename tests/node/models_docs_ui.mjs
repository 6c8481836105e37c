// models_docs_ui.mjs - the site of `kiln docs generate` in headless Chromium
// (Debian's chromium driven by playwright-core), opened from file:// as a
// user would: the overview shows the __overview__ docs block; search finds a
// model; its page lists columns with their warehouse types, descriptions
// (doc() rendered, markdown tables as tables) and tests, and its compiled
// SQL; clicking through the lineage graph opens the upstream node; a
// description holding markup is shown as text; no request leaves file://,
// no console error. Usage: node models_docs_ui.mjs INDEX.html SHOTDIR [CHROMIUM]
import { chromium } from "playwright-core";

const [index, shots, exe = "/usr/bin/chromium"] = process.argv.slice(2);
const fail = (m) => { throw new Error(m); };
const browser = await chromium.launch({ executablePath: exe, args: ["--no-sandbox", "--disable-gpu"] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [], requests = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("request", (r) => { if (!r.url().startsWith("file://") && !r.url().startsWith("data:")) requests.push(r.url()); });
  await page.goto("file://" + index);
  // overview: the __overview__ block, rendered from markdown
  const h2 = await page.locator("main .md h3").first().textContent();
  if (h2 !== "A shop's data") fail(`overview heading: ${h2}`);
  if (!(await page.locator("main").textContent()).includes("Seeds become staging views"))
    fail("overview text missing");
  if ((await page.locator("#nav a").count()) < 28 + 2) fail("sidebar does not list every node");
  await page.screenshot({ path: `${shots}/models_docs_overview.png`, fullPage: true });
  // search a model and open it
  await page.fill("#search", "custom");
  await page.waitForSelector("#results a.result");
  const first = await page.locator("#results a.result").first().textContent();
  if (!first.startsWith("customers")) fail(`first search hit: ${first}`);
  await page.locator("#results a.result").first().click();
  await page.waitForFunction(() => location.hash === "#model.jaffle_shop.customers");
  if ((await page.textContent("#node-title")) !== "customersmodel") fail("customers page title");
  // columns with types from the catalog, descriptions, and their tests
  const row = page.locator("#columns tr.col", { hasText: "customer_id" });
  const cells = await row.locator("td").allTextContents();
  if (cells[1] !== "long") fail(`customer_id type: ${cells[1]}`);
  if (cells[2] !== "Primary key") fail(`customer_id description: ${cells[2]}`);
  if (!cells[3].includes("unique") || !cells[3].includes("not_null")) fail(`customer_id tests: ${cells[3]}`);
  const clv = await page.locator("#columns tr.col", { hasText: "customer_lifetime_value" }).locator("td").nth(1).textContent();
  if (clv !== "double") fail(`customer_lifetime_value type: ${clv}`);
  const compiled = await page.textContent("#compiled-code");
  if (!compiled.includes("analytics.stg_customers") || compiled.includes("{{")) fail("compiled SQL");
  if (!(await page.textContent("#raw-code")).includes("{{ ref('stg_customers') }}")) fail("source code");
  await page.screenshot({ path: `${shots}/models_docs_customers.png`, fullPage: true });
  // lineage: click the upstream stg_orders node in the graph
  const nodes = await page.locator("svg#lineage .lnode").evaluateAll((gs) => gs.map((g) => g.getAttribute("data-id")));
  // customers reads the three staging models (and through them the seeds);
  // orders is a sibling, neither upstream nor downstream
  for (const want of ["seed.jaffle_shop.raw_orders", "model.jaffle_shop.stg_orders", "model.jaffle_shop.stg_payments"])
    if (!nodes.includes(want)) fail(`lineage of customers lacks ${want}: ${nodes}`);
  if (nodes.includes("model.jaffle_shop.orders")) fail("orders drawn in the lineage of customers");
  if (nodes.some((n) => n.startsWith("test."))) fail("tests drawn in the lineage");
  await page.locator('svg#lineage .lnode[data-id="model.jaffle_shop.stg_orders"]').click();
  await page.waitForFunction(() => location.hash.includes("stg_orders"));
  if ((await page.textContent("#node-title")) !== "stg_ordersmodel") fail("lineage click did not open stg_orders");
  await page.locator('svg#lineage .lnode[data-id="seed.jaffle_shop.raw_orders"]').click();
  await page.waitForFunction(() => location.hash.includes("raw_orders"));
  if ((await page.textContent("#node-title")) !== "raw_ordersseed") fail("lineage click did not open raw_orders");
  // orders: doc() rendered in a column description, its markdown table as a table
  await page.evaluate(() => { location.hash = "model.jaffle_shop.orders"; });
  await page.waitForSelector("#columns");
  const status = page.locator("#columns tr.col", { hasText: "status" }).first();
  if ((await status.locator("td table tr").count()) !== 6) fail("orders_status docs table not rendered");
  // a test page links back to its model
  await page.fill("#search", "accepted_values");
  await page.locator("#results a.result").first().click();
  await page.waitForSelector("table.details");
  if (!(await page.textContent("#compiled-code")).includes("status")) fail("test compiled SQL");
  // the source added by the test, with its freshness
  await page.evaluate(() => { location.hash = "source.jaffle_shop.shop.raw_orders_src"; });
  await page.waitForSelector("#node-title");
  const src = await page.textContent("main");
  if (!src.includes("warn after 12 hour") || !src.includes("Loaded at field")) fail("source page");
  if (!src.includes("<b>bold?</b>")) fail("markup in a description was not shown as text");
  if ((await page.locator("main b").count()) !== 0) fail("markup in a description became markup");
  if (await page.evaluate(() => window.pwned)) fail("a description ran a script");
  await page.screenshot({ path: `${shots}/models_docs_source.png`, fullPage: true });
  if (requests.length) fail(`network requests: ${requests}`);
  if (errors.length) fail(`console errors: ${errors}`);
  console.log("models_docs_ui: ok");
} finally {
  await browser.close();
}
