// The build-master command. Thin: parse arguments, call the engine, print.
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { formatProblem, UsageError, validateFile } from './validate';

export const EXIT = { ok: 0, failure: 1, badInput: 2, globalHold: 3 } as const;

const USAGE = `usage: build-master <command> [--repo DIR] [--forge local|github] [--json]

commands:
  validate [file]        check a policy file (default: the repository's)
`;

interface Output {
  out: (text: string) => void;
  err: (text: string) => void;
}

export async function run(argv: string[], io: Output): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        repo: { type: 'string' },
        forge: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    io.err(`build-master: ${(error as Error).message}\n${USAGE}`);
    return EXIT.badInput;
  }
  const [command, ...rest] = parsed.positionals;
  const repo = resolve(parsed.values.repo ?? process.cwd());
  if (parsed.values.help || !command) {
    (command ? io.out : io.err)(USAGE);
    return parsed.values.help ? EXIT.ok : EXIT.badInput;
  }
  try {
    switch (command) {
      case 'validate': {
        const outcome = validateFile(repo, rest[0]);
        if (parsed.values.json) {
          io.out(JSON.stringify({ file: outcome.file, valid: outcome.problems.length === 0, problems: outcome.problems }, null, 2));
        } else if (outcome.problems.length === 0) {
          io.out(outcome.exists ? `${outcome.file}: valid` : `no policy file in ${repo}: every key takes its default (valid)`);
        } else {
          io.err(outcome.problems.map(formatProblem).join('\n'));
          io.err(`${outcome.problems.length} problem(s) in ${outcome.file}`);
        }
        return outcome.problems.length === 0 ? EXIT.ok : EXIT.badInput;
      }
      default:
        io.err(`build-master: unknown command "${command}"\n${USAGE}`);
        return EXIT.badInput;
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`build-master: ${error.message}`);
      return EXIT.badInput;
    }
    io.err(`build-master: ${(error as Error).stack ?? String(error)}`);
    return EXIT.failure;
  }
}

if (require.main === module) {
  run(process.argv.slice(2), {
    out: (text) => process.stdout.write(`${text}\n`),
    err: (text) => process.stderr.write(`${text}\n`),
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`build-master: ${String(error)}\n`);
      process.exitCode = EXIT.failure;
    },
  );
}
