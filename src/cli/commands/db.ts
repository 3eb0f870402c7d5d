// `flotilla db vacuum --older-than 30d [--dry-run]`: delete finished runs (with their task runs,
// logs, events and samples) that ended before the cutoff; --dry-run only counts them. Through the
// server with --server, else directly on the database (--database, FLOTILLA_DATABASE_URL, or the
// home's SQLite file).

import type { Command } from "commander";
import type { VacuumReport } from "../../store/store.ts";
import { outputOption, renderOutput, SERVER_FORMATS } from "../output.ts";
import { parseInterval } from "./deploy.ts";
import { clientFor, type ServerCallOptions } from "./runs-server.ts";

export async function vacuum(
  o: ServerCallOptions & { olderThan: string; dryRun?: boolean; database?: string },
): Promise<VacuumReport> {
  const olderThanMs = parseInterval(o.olderThan.replace(/^--older-than /, ""), "--older-than");
  if (o.server !== undefined || (process.env.FLOTILLA_API_URL && o.database === undefined)) {
    return clientFor(o).post<VacuumReport>("/api/db/vacuum", { olderThanMs, dryRun: o.dryRun ?? false });
  }
  const { openStore, defaultDatabase } = await import("../../store/open.ts");
  const store = await openStore(o.database ?? defaultDatabase());
  try {
    return await store.vacuum(Date.now() - olderThanMs, o.dryRun ?? false);
  } finally {
    await store.close();
  }
}

export const dbCommand = (program: Command): void => {
  const db = program.command("db").description("the server's database: retention");
  db.command("vacuum")
    .description("delete finished runs older than a cutoff (with --dry-run: count them)")
    .requiredOption("--older-than <duration>", "e.g. 30d, 12h")
    .option("--dry-run", "count what would be deleted; delete nothing")
    .option(
      "--database <url>",
      "postgres://… or a SQLite file (default: $FLOTILLA_DATABASE_URL, else the home's)",
    )
    .option("--server <url>", "do it through this server instead")
    .option("--token <token>", "an admin token for --server")
    .addOption(outputOption(SERVER_FORMATS))
    .action(async (o: ServerCallOptions & { olderThan: string; dryRun?: boolean; database?: string }) => {
      const r = await vacuum(o);
      process.stdout.write(
        await renderOutput(
          o.output,
          r,
          () =>
            `${r.dryRun ? "would delete" : "deleted"} ${r.runs} runs ended before ${new Date(r.olderThan).toISOString()}: ${r.taskRuns} task runs, ${r.logChunks} log chunks, ${r.events} events, ${r.samples} samples\n`,
        ),
      );
    });
};
