// `flotilla tokens create --scope agent|runner|read|admin --name N` and `tokens list`: API tokens
// of a Flotilla server. A new token's value is printed once; the server keeps only its hash.

import type { Command } from "commander";
import { ErrorCode, FlotillaError } from "../../core/errors.ts";
import type { TokenRecord } from "../../store/store.ts";
import { outputOption, renderOutput, SERVER_FORMATS } from "../output.ts";
import { clientFor, type ServerCallOptions, table } from "./runs-server.ts";

const SCOPES = ["admin", "agent", "runner", "read"];

export const tokensCommand = (program: Command): void => {
  const tokens = program.command("tokens").description("API tokens of a Flotilla server");
  const common = (c: Command) =>
    c
      .option("--server <url>", "the Flotilla server (default: $FLOTILLA_API_URL)")
      .option("--token <token>", "an admin token (default: $FLOTILLA_API_TOKEN, else the home's admin token)")
      .addOption(outputOption(SERVER_FORMATS));
  common(tokens.command("create").description("create a token; its value is printed once"))
    .requiredOption("--scope <scope>", "admin, agent, runner or read")
    .option("--name <name>", "what the token is for", "cli")
    .action(async (o: ServerCallOptions & { scope: string; name: string }) => {
      if (!SCOPES.includes(o.scope)) {
        throw new FlotillaError(ErrorCode.Usage, `--scope ${o.scope}: use one of ${SCOPES.join(", ")}`, {
          usage: true,
        });
      }
      const r = await clientFor(o).post<TokenRecord & { token: string }>("/api/tokens", {
        name: o.name,
        scope: o.scope,
      });
      process.stdout.write(await renderOutput(o.output, r, () => `${r.token}\n`));
      if (o.output === "table")
        process.stderr.write(`token ${r.name} (${r.scope}) created; it is shown only this once\n`);
    });
  common(tokens.command("list").description("list tokens (names and scopes, never values)")).action(
    async (o: ServerCallOptions) => {
      const { items } = await clientFor(o).get<{ items: TokenRecord[] }>("/api/tokens");
      process.stdout.write(
        await renderOutput(o.output, items, () =>
          table([
            ["ID", "NAME", "SCOPE", "CREATED"],
            ...items.map((t) => [t.id.slice(0, 8), t.name, t.scope, new Date(t.createdAt).toISOString()]),
          ]),
        ),
      );
    },
  );
};
