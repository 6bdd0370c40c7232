// jsforce 3.10.16, the common Node client for Salesforce, against the emulator: OAuth login
// (username-password and client credentials), Lead create and upsert by external id, query paging
// (query + queryMore and autoFetch over 2,000 rows), sObject Collections and Bulk API 2.0 ingest. A second client that
// was written against real Salesforce checks that the emulator answers in Salesforce's shapes.
// The shapes come from Salesforce's own documentation: REST API Developer Guide ("Execute a SOQL
// Query", "Query Options Header", sObject Rows / Collections, status codes and error responses),
// Bulk API 2.0 Developer Guide (ingest job lifecycle and result files), and the OAuth 2.0
// username-password and client-credentials flows (see tests/emulator/README.md). Where jsforce
// exposed a difference from Salesforce, the emulator was fixed, not this file: Bulk 2.0 upsert
// jobs carry an (empty) Id column, which Salesforce accepts and the emulator used to reject.
import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import jsforce from "jsforce";
import { startEmulator, ORG_ID, USER_ID } from "../emulator/server.mjs";

const VERSION = "66.0";
const DATA = `/services/data/v${VERSION}`;

let emu;
before(async () => {
  emu = await startEmulator();
});
after(() => emu.stop());
beforeEach(() => {
  emu.reset({ sessions: true });
  emu.clearFaults();
});

/** A jsforce connection to the emulator's connected app (not logged in yet). */
function connection(over = {}) {
  return new jsforce.Connection({
    oauth2: { clientId: emu.clientId, clientSecret: emu.clientSecret, loginUrl: emu.url, ...over },
    version: VERSION,
  });
}

async function loggedIn() {
  const conn = connection();
  await conn.login(emu.username, emu.password + emu.securityToken);
  conn.bulk2.pollInterval = 20; // the emulator finishes a job on the second poll
  return conn;
}

const leads = (n, from = 0) =>
  Array.from({ length: n }, (_, i) => ({ LastName: `L${String(from + i).padStart(5, "0")}`, Company: "Paging", Email: `u${from + i}@example.com` }));

/** Requests the emulator logged, as "METHOD path" (query strings left out). */
const calls = () => emu.state.requests.map((r) => `${r.method} ${r.path}`);

test("username-password login: instance url, ids and a Bearer token from the password grant", async () => {
  const conn = connection();
  const info = await conn.login(emu.username, emu.password + emu.securityToken);
  assert.deepEqual(info, { id: USER_ID, organizationId: ORG_ID, url: `${emu.url}/id/${ORG_ID}/${USER_ID}` });
  assert.equal(conn.instanceUrl, emu.instanceUrl);
  assert.deepEqual(emu.state.tokensIssued, [{ grant: "password", access_token: conn.accessToken }]);
  assert.deepEqual(calls(), ["POST /services/oauth2/token"]);

  const bad = await connection().login(emu.username, "wrong").catch((e) => e);
  assert.deepEqual([bad.name, bad.message], ["invalid_grant", "authentication failure"]);
});

test("client credentials: jsforce's authorize({grant_type}) gets a working session", async () => {
  const conn = connection();
  const info = await conn.authorize({ grant_type: "client_credentials" });
  assert.equal(info.organizationId, ORG_ID);
  assert.deepEqual(emu.state.tokensIssued.map((t) => t.grant), ["client_credentials"]);
  assert.deepEqual(await conn.query("SELECT Id FROM Lead"), { totalSize: 0, done: true, records: [] });

  const bad = await connection({ clientSecret: "nope" }).authorize({ grant_type: "client_credentials" }).catch((e) => e);
  assert.deepEqual([bad.name, bad.message], ["invalid_client", "invalid client credentials"]);
});

test("an expired session: jsforce sees 401 INVALID_SESSION_ID, logs in again and retries", async () => {
  const conn = await loggedIn();
  emu.setFaults({ kind: "expireSessions" });
  assert.deepEqual(await conn.query("SELECT Id FROM Lead"), { totalSize: 0, done: true, records: [] });
  assert.deepEqual(emu.state.tokensIssued.map((t) => t.grant), ["password", "password"]);
  assert.deepEqual(calls(), ["POST /services/oauth2/token", `GET ${DATA}/query`, "POST /services/oauth2/token", `GET ${DATA}/query`]);
});

test("create a Lead, read it back; a missing required field is jsforce's REQUIRED_FIELD_MISSING error", async () => {
  const conn = await loggedIn();
  const created = await conn.sobject("Lead").create(
    { FirstName: "Ada", LastName: "Lovelace", Company: "Web channel signups", Email: "ada@example.com" },
    { headers: { "Sforce-Auto-Assign": "FALSE" } },
  );
  const [stored] = emu.state.records.Lead;
  assert.deepEqual(created, { id: stored.Id, success: true, errors: [] });
  assert.equal(stored._autoAssign, "FALSE");
  assert.equal(calls().at(-1), `POST ${DATA}/sobjects/Lead`);

  const lead = await conn.sobject("Lead").retrieve(created.id);
  assert.deepEqual(lead.attributes, { type: "Lead", url: `${DATA}/sobjects/Lead/${created.id}` });
  assert.deepEqual([lead.Id, lead.Name, lead.Email, lead.Status], [created.id, "Ada Lovelace", "ada@example.com", "Open - Not Contacted"]);

  const err = await conn.sobject("Lead").create({ LastName: "NoCompany" }).catch((e) => e);
  assert.deepEqual([err.errorCode, err.message, err.data.fields], ["REQUIRED_FIELD_MISSING", "Required fields are missing: [Company]", ["Company"]]);
  assert.equal(emu.state.records.Lead.length, 1);
});

test("upsert by external id: created, then updated (the same Id), and MULTIPLE_CHOICES when two records match", async () => {
  const conn = await loggedIn();
  const first = await conn.sobject("Lead").upsert({ External_User_Id__c: "auth0|1", LastName: "Ada", Company: "C" }, "External_User_Id__c");
  const [stored] = emu.state.records.Lead;
  assert.deepEqual(first, { id: stored.Id, success: true, errors: [], created: true });
  const again = await conn.sobject("Lead").upsert({ External_User_Id__c: "auth0|1", LastName: "Lovelace" }, "External_User_Id__c");
  assert.deepEqual(again, { id: stored.Id, success: true, errors: [], created: false });
  assert.deepEqual(emu.state.records.Lead.map((r) => r.LastName), ["Lovelace"]);
  assert.equal(calls().at(-1), `PATCH ${DATA}/sobjects/Lead/External_User_Id__c/auth0%7C1`);

  await conn.sobject("Lead").create([{ External_User_Id__c: "dup", LastName: "A", Company: "C" }, { External_User_Id__c: "dup", LastName: "B", Company: "C" }]);
  const err = await conn.sobject("Lead").upsert({ External_User_Id__c: "dup", LastName: "X" }, "External_User_Id__c").catch((e) => e);
  const dupIds = emu.state.records.Lead.slice(1).map((r) => `${DATA}/sobjects/Lead/${r.Id}`);
  assert.deepEqual([err.errorCode, err.data], ["MULTIPLE_CHOICES", dupIds]);
});

test("sObject Collections: create of an array is one composite/sobjects call with one result per record", async () => {
  const conn = await loggedIn();
  const input = [...leads(2), { LastName: "NoCompany" }];
  const results = await conn.sobject("Lead").create(input, { allOrNone: false });
  const ids = emu.state.records.Lead.map((r) => r.Id);
  assert.deepEqual(results, [
    { id: ids[0], success: true, errors: [] },
    { id: ids[1], success: true, errors: [] },
    { success: false, errors: [{ statusCode: "REQUIRED_FIELD_MISSING", message: "Required fields are missing: [Company]", fields: ["Company"] }] },
  ]);
  assert.deepEqual(calls().slice(1), [`POST ${DATA}/composite/sobjects`]);
  const sent = JSON.parse(emu.state.requests.at(-1).body);
  assert.deepEqual([sent.allOrNone, sent.records.length, sent.records[0].attributes], [false, 3, { type: "Lead" }]);

  // allOrNone: the valid records are rolled back with the failing one
  const rolledBack = await conn.sobject("Lead").create(input, { allOrNone: true });
  assert.deepEqual(rolledBack.map((r) => [r.success, r.errors[0].statusCode]), [
    [false, "ALL_OR_NONE_OPERATION_ROLLED_BACK"],
    [false, "ALL_OR_NONE_OPERATION_ROLLED_BACK"],
    [false, "REQUIRED_FIELD_MISSING"],
  ]);
  assert.equal(emu.state.records.Lead.length, 2);
});

test("Bulk API 2.0 insert: 2,600 rows through conn.bulk2, one failing row in failedResults", async () => {
  const conn = await loggedIn();
  const input = [...leads(2600), { LastName: "NoCompany", Company: "", Email: "bad@example.com" }];
  const res = await conn.bulk2.loadAndWaitForResults({ object: "Lead", operation: "insert", input });
  assert.equal(res.successfulResults.length, 2600);
  assert.equal(res.failedResults.length, 1);
  assert.deepEqual(res.unprocessedRecords, []);
  const stored = emu.state.records.Lead;
  assert.equal(stored.length, 2600);
  assert.deepEqual(res.successfulResults[0], { sf__Id: stored[0].Id, sf__Created: "true", LastName: "L00000", Company: "Paging", Email: "u0@example.com" });
  assert.deepEqual(res.successfulResults.map((r) => r.sf__Id), stored.map((r) => r.Id));
  assert.match(res.failedResults[0].sf__Error, /^REQUIRED_FIELD_MISSING:Required fields are missing: \[Company\]:Company--$/);
  assert.equal(res.failedResults[0].LastName, "NoCompany");
  const [job] = emu.state.bulkJobs;
  assert.deepEqual([job.state, job.numberRecordsProcessed, job.numberRecordsFailed], ["JobComplete", 2601, 1]);
  const jobPath = `${DATA}/jobs/ingest/${job.id}`;
  const steps = calls().slice(1);
  assert.deepEqual(steps.slice(0, 3), [`POST ${DATA}/jobs/ingest`, `PUT ${jobPath}/batches`, `PATCH ${jobPath}`]);
  assert.ok(steps.filter((c) => c === `GET ${jobPath}`).length >= 2, steps.join("\n"));
});

test("Bulk API 2.0 upsert by external id: the Id column jsforce adds is accepted; existing rows are updated", async () => {
  const conn = await loggedIn();
  await conn.sobject("Lead").create({ LastName: "Old", Company: "C", External_User_Id__c: "ext-1" });
  const res = await conn.bulk2.loadAndWaitForResults({
    object: "Lead",
    operation: "upsert",
    externalIdFieldName: "External_User_Id__c",
    input: [
      { External_User_Id__c: "ext-1", LastName: "Updated", Company: "C" },
      { External_User_Id__c: "ext-2", LastName: "New", Company: "C" },
    ],
  });
  const csv = emu.state.requests.find((r) => r.method === "PUT").body;
  assert.match(csv.split("\n")[0], /^Id,/);
  assert.deepEqual(res.successfulResults.map((r) => [r.External_User_Id__c, r.sf__Created]), [["ext-1", "false"], ["ext-2", "true"]]);
  assert.deepEqual(res.failedResults, []);
  assert.deepEqual(emu.state.records.Lead.map((r) => [r.External_User_Id__c, r.LastName]), [["ext-1", "Updated"], ["ext-2", "New"]]);
});

test("query paging over 4,500 rows: query + queryMore, then autoFetch; every row exactly once", async () => {
  const conn = await loggedIn();
  await conn.bulk2.loadAndWaitForResults({ object: "Lead", operation: "insert", input: leads(4500) });
  const ids = emu.state.records.Lead.map((r) => r.Id);
  assert.equal(ids.length, 4500);
  const soql = "SELECT Id, LastName FROM Lead ORDER BY LastName";

  emu.state.requests.length = 0;
  const first = await conn.query(soql);
  assert.deepEqual([first.totalSize, first.done, first.records.length], [4500, false, 2000]);
  assert.match(first.nextRecordsUrl, new RegExp(`${DATA}/query/01g[A-Za-z0-9]{15}-2000$`));
  const second = await conn.queryMore(first.nextRecordsUrl); // a whole nextRecordsUrl
  assert.deepEqual([second.totalSize, second.done, second.records.length], [4500, false, 2000]);
  const third = await conn.queryMore(second.nextRecordsUrl.split("/").pop()); // a bare locator
  assert.deepEqual([third.totalSize, third.done, third.records.length, third.nextRecordsUrl], [4500, true, 500, undefined]);
  const paged = [first, second, third].flatMap((p) => p.records.map((r) => r.Id));
  assert.deepEqual(paged, ids);
  const locator = /query\/(01g[A-Za-z0-9]{15})-2000$/.exec(first.nextRecordsUrl)[1];
  assert.deepEqual(calls(), [`GET ${DATA}/query`, `GET ${DATA}/query/${locator}-2000`, `GET ${DATA}/query/${locator}-4000`]);

  emu.state.requests.length = 0;
  const all = await conn.query(soql).run({ autoFetch: true, maxFetch: 10000 });
  assert.deepEqual([all.totalSize, all.done, all.records.length], [4500, true, 4500]);
  assert.deepEqual(all.records.map((r) => r.Id), ids);
  assert.equal(calls().length, 3);

  // a smaller page size asked with Sforce-Query-Options
  emu.state.requests.length = 0;
  const fetched = [];
  const small = conn.query(soql, { headers: { "Sforce-Query-Options": "batchSize=1000" } });
  small.on("record", (r) => fetched.push(r.Id));
  const smallRes = await small.run({ autoFetch: true, maxFetch: 10000 });
  assert.equal(smallRes.records.length, 4500);
  assert.deepEqual(fetched, ids);
  assert.equal(calls().length, 5);
  assert.ok(emu.state.requests.every((r) => r.headers["sforce-query-options"] === "batchSize=1000"));

  // scanAll (queryAll) pages too
  const scanned = await conn.query("SELECT Id FROM Lead", { scanAll: true }).run({ autoFetch: true, maxFetch: 10000 });
  assert.deepEqual(new Set(scanned.records.map((r) => r.Id)), new Set(ids));
  assert.equal(scanned.records.length, 4500);
});

test("an invalid query locator is jsforce's INVALID_QUERY_LOCATOR error", async () => {
  const conn = await loggedIn();
  const err = await conn.queryMore("01g5e0000099999999-2000").catch((e) => e);
  assert.deepEqual([err.errorCode, err.message], ["INVALID_QUERY_LOCATOR", "invalid query locator"]);
});
