import { type ChatInputCommandInteraction, MessageFlags } from 'discord.js';
import { type BotContext, memberOf } from './bot-context.js';
import { commandNamed } from './commands/index.js';
import { inDiscordWords } from './discord-words.js';
import { allowed, refusal } from './permissions.js';

/**
 * `/lab <subcommand>`: the member's roles are checked against what the subcommand needs, then it
 * is acknowledged at once (deferred) and answered by its handler when the work is done.
 */
export async function slashCommand(
  interaction: ChatInputCommandInteraction,
  context: BotContext,
): Promise<void> {
  const subcommand = interaction.options.getSubcommand();
  const command = commandNamed(subcommand);
  if (!command) throw new Error(`/lab ${subcommand} is not a subcommand of lab`);
  const member = memberOf(interaction);
  const { needs } = command;
  if (!allowed(context.config, member, needs)) {
    context.log.info(
      { userId: member.userId, subcommand },
      `refused /lab ${subcommand} for ${member.name} (${member.userId}): not allowed to ${needs}`,
    );
    await interaction.reply({ content: refusal(needs), flags: MessageFlags.Ephemeral });
    return;
  }
  await interaction.deferReply();
  try {
    await command.run({ interaction, member, context });
  } catch (error) {
    throw inDiscordWords(error);
  }
}
