import {
  type APIApplicationCommandSubcommandOption,
  ApplicationCommandOptionType,
  type ChatInputCommandInteraction,
} from 'discord.js';
import type { BotContext } from '../bot-context.js';
import type { Capability, Member } from '../permissions.js';

/** The kinds of option lab's subcommands take: strings (some with choices) and booleans. */
type OptionData =
  | {
      readonly type: ApplicationCommandOptionType.String;
      readonly name: string;
      readonly required?: boolean;
      readonly choices?: readonly { readonly value: string }[];
    }
  | {
      readonly type: ApplicationCommandOptionType.Boolean;
      readonly name: string;
      readonly required?: boolean;
    };

/** A `/lab` subcommand's definition as Discord registers it, with the options lab reads. */
export type SubcommandData = Omit<APIApplicationCommandSubcommandOption, 'options'> & {
  readonly name: string;
  readonly options?: readonly OptionData[];
};

/** `skip-broken` → `skipBroken`: the argument name of an option. */
type ArgName<S extends string> = S extends `${infer Head}-${infer Tail}`
  ? `${Head}${Capitalize<ArgName<Tail>>}`
  : S;
const argName = (option: string) => option.replace(/-(.)/g, (_, letter: string) => letter.toUpperCase());

type ValueOf<O> = O extends { readonly type: ApplicationCommandOptionType.Boolean }
  ? boolean
  : O extends { readonly choices: readonly { readonly value: infer V }[] }
    ? V
    : string;

/** The arguments a subcommand's handler gets, typed from its definition: null when not given. */
export type CommandArgs<D extends SubcommandData> = D extends { readonly options: readonly (infer O)[] }
  ? {
      readonly [K in O as K extends { readonly name: infer N extends string }
        ? ArgName<N>
        : never]: K extends {
        readonly required: true;
      }
        ? ValueOf<K>
        : ValueOf<K> | null;
    }
  : Record<never, never>;

/** What a handler answers: the interaction (already deferred), who asked, and the bot's context. */
export interface CommandCall {
  readonly interaction: ChatInputCommandInteraction;
  readonly member: Member;
  readonly context: BotContext;
}

/** One `/lab` subcommand: its definition, who may use it, and its handler. */
export interface Command<D extends SubcommandData = SubcommandData> {
  readonly definition: D;
  /** What the member's roles must allow: `operate` for what changes something, else `view`. */
  readonly needs: Capability;
  readonly handle: (args: CommandArgs<D>, call: CommandCall) => Promise<void>;
  /** Reads the arguments its definition names from the interaction and handles them. */
  readonly run: (call: CommandCall) => Promise<void>;
}

/** A subcommand whose handler is typed from its definition. */
export function defineCommand<const D extends SubcommandData>(command: {
  readonly definition: D;
  readonly needs: Capability;
  readonly handle: (args: CommandArgs<D>, call: CommandCall) => Promise<void>;
}): Command<D> {
  return {
    ...command,
    run: (call) => command.handle(readArgs(command.definition, call.interaction), call),
  };
}

/** The options a definition names, read from the interaction (a required one missing throws). */
function readArgs<D extends SubcommandData>(
  definition: D,
  interaction: ChatInputCommandInteraction,
): CommandArgs<D> {
  const args: Record<string, string | boolean | null> = {};
  for (const option of definition.options ?? []) {
    const required = option.required === true;
    args[argName(option.name)] =
      option.type === ApplicationCommandOptionType.Boolean
        ? interaction.options.getBoolean(option.name, required)
        : interaction.options.getString(option.name, required);
  }
  return args as CommandArgs<D>;
}
