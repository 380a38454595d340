import { CommanderError, type Command } from 'commander';

/** A mistake in how a tool was called (exit 2), as opposed to bad input (exit 1). */
export class UsageError extends Error {}

/**
 * Runs a commander program (made with exitOverride) with exit codes scripts can
 * trust: 0 done, 1 bad input or a failure, 2 usage. Errors are one line on
 * stderr, never a stack trace.
 */
export async function runCli(name: string, program: Command, argv: string[] = process.argv): Promise<void> {
  try {
    if (argv.length <= 2) {
      program.outputHelp({ error: true });
      process.exitCode = 2;
      return;
    }
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version exit 0; anything else commander rejects is usage.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    process.stderr.write(`${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  }
}
