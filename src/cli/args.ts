// The command line, read: util.parseArgs over one table of every option, then each command's own
// rules (which options it takes, which go together). Pure, argv and environment in, an Invocation
// or a UsageError out. The admin token comes only from the environment: flags end up in shell history.
import { parseArgs } from "node:util";

export type CommandName = "revoke" | "feed" | "follow" | "health";

export type RevokeTarget =
  /** "-": read the token from stdin. */
  | { token: string }
  | { jti: string; exp: number; iss?: string }
  | { sid: string; iss?: string }
  | { sub: string; iss?: string };

export type Command =
  | { name: "revoke"; target: RevokeTarget }
  | { name: "feed"; since: number; limit?: number }
  | { name: "follow"; since: number }
  | { name: "health" };

export interface Run {
  kind: "run";
  command: Command;
  baseUrl: string;
  adminToken: string;
  json: boolean;
}

export type Invocation = { kind: "help"; command: CommandName | null } | { kind: "version" } | Run;

/** A command line this program cannot run; exit status 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
  constructor(
    message: string,
    /** The command whose --help to point at, when there is one. */
    readonly command: CommandName | null = null,
  ) {
    super(message);
  }
}

export const URL_ENV = "EDGE_AUTHORIZER_URL";
export const ADMIN_TOKEN_ENV = "EDGE_AUTHORIZER_ADMIN_TOKEN";

const OPTIONS = {
  url: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
  sub: { type: "string" },
  sid: { type: "string" },
  jti: { type: "string" },
  token: { type: "string" },
  iss: { type: "string" },
  exp: { type: "string" },
  since: { type: "string" },
  limit: { type: "string" },
} as const;

type OptionName = keyof typeof OPTIONS;
type Values = { [K in OptionName]?: (typeof OPTIONS)[K]["type"] extends "boolean" ? boolean : string };

const GLOBAL_OPTIONS: readonly OptionName[] = ["url", "json", "help", "version"];
const COMMAND_OPTIONS: Record<CommandName, readonly OptionName[]> = {
  revoke: ["sub", "sid", "jti", "token", "iss", "exp"],
  feed: ["since", "limit"],
  follow: ["since"],
  health: [],
};
const isCommand = (name: string): name is CommandName => Object.hasOwn(COMMAND_OPTIONS, name);

export function parseCommandLine(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): Invocation {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true }));
  } catch (e) {
    const name = argv.find(isCommand) ?? null;
    // Node's messages go on to explain "--"; the first sentence is the point.
    throw new UsageError((e instanceof Error ? e.message : String(e)).replace(/\. To specify .*$/s, ""), name);
  }
  const [name, ...extra] = positionals;
  if (values.version) return { kind: "version" };
  if (name !== undefined && !isCommand(name)) throw new UsageError(`unknown command "${name}"`);
  if (values.help) return { kind: "help", command: name ?? null };
  if (name === undefined) throw new UsageError("no command given");
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`, name);
  for (const option of Object.keys(values) as OptionName[]) {
    if (!GLOBAL_OPTIONS.includes(option) && !COMMAND_OPTIONS[name].includes(option))
      throw new UsageError(`${name} does not take --${option}`, name);
  }
  const command = commandOf(name, values);
  const baseUrl = values.url ?? env[URL_ENV];
  if (!baseUrl) throw new UsageError(`the authorizer's URL is needed: --url <url> or ${URL_ENV}`, name);
  const adminToken = env[ADMIN_TOKEN_ENV];
  if (!adminToken) throw new UsageError(`an admin token is needed in ${ADMIN_TOKEN_ENV}`, name);
  return { kind: "run", command, baseUrl, adminToken, json: values.json === true };
}

function commandOf(name: CommandName, values: Values): Command {
  switch (name) {
    case "revoke":
      return { name, target: revokeTarget(values) };
    case "feed": {
      const limit = values.limit === undefined ? undefined : integer(values.limit, "--limit", name);
      return { name, since: integer(values.since ?? "0", "--since", name), ...(limit === undefined ? {} : { limit }) };
    }
    case "follow":
      return { name, since: integer(values.since ?? "0", "--since", name) };
    case "health":
      return { name };
  }
}

function revokeTarget(values: Values): RevokeTarget {
  const given = (["sub", "sid", "jti", "token"] as const).filter((k) => values[k] !== undefined);
  if (given.length !== 1) {
    const but = given.length === 0 ? "" : `, not --${given.join(" and --")}`;
    throw new UsageError(`revoke takes one of --sub, --sid, --jti (with --exp) or --token${but}`, "revoke");
  }
  const { sub, sid, jti, token, iss, exp } = values;
  if (exp !== undefined && jti === undefined) throw new UsageError("--exp goes with --jti", "revoke");
  const withIss = iss === undefined ? {} : { iss };
  if (token !== undefined) {
    if (iss !== undefined) throw new UsageError("--iss does not go with --token: the token names its issuer", "revoke");
    return { token };
  }
  if (jti !== undefined) {
    if (exp === undefined) throw new UsageError("--jti needs --exp, the token's exp in Unix seconds", "revoke");
    return { jti, exp: integer(exp, "--exp", "revoke"), ...withIss };
  }
  if (sid !== undefined) return { sid, ...withIss };
  return { sub: sub!, ...withIss };
}

function integer(text: string, option: string, command: CommandName): number {
  const value = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value)) throw new UsageError(`${option} must be an integer of 0 or more`, command);
  return value;
}
