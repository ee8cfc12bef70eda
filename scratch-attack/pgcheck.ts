import pg from "pg";
import { startPostgresServer } from "../test/postgres-server.ts";
const server = await startPostgresServer();
try {
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  for (const text of [JSON.stringify({ a: "x\ud800y" }), JSON.stringify({ a: "\udc00" }), JSON.stringify({ a: "nul\u0000" }), JSON.stringify({["k\ud800"]: 1})]) {
    try { const r = await client.query("SELECT $1::json AS j", [text]); console.log("ok", text, JSON.stringify(r.rows[0].j)); }
    catch (e) { console.log("FAIL", text, (e as Error).message); }
  }
  try { await client.query("SELECT $1::text AS t", ["a\u0000b"]); console.log("text nul ok"); } catch (e) { console.log("text nul FAIL", (e as Error).message); }
  await client.end();
} finally { await server.stop(); }
