// A second, independent MCP client: the official TypeScript SDK over Streamable HTTP with the
// caller's OIDC token. Lists the tools, runs code, and sees a denial as an error result.
// Prints one JSON line for tests/e2e/mcp.rs.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const url = new URL(process.env.MCP_URL);
const transport = new StreamableHTTPClientTransport(url, {
  requestInit: { headers: { Authorization: `Bearer ${process.env.TOKEN}` } },
});
const client = new Client({ name: 'airlock-e2e-ts', version: '1.0.0' });
await client.connect(transport);
const { tools } = await client.listTools();
const ran = await client.callTool({ name: 'execute_code', arguments: { code: 'print(6 * 7)' } });
if (ran.isError) throw new Error(`execute_code failed: ${JSON.stringify(ran)}`);
const denied = await client.callTool({ name: 'execute_code', arguments: { code: 'import requests' } });
const violations = denied.structuredContent?.violations ?? [];
await transport.terminateSession();
await client.close();
console.log(JSON.stringify({
  tools: tools.map((t) => t.name),
  stdout: ran.structuredContent.stdout,
  denied: denied.isError === true && violations[0]?.code === 'package_not_allowed',
}));
