import type { DiscordConfig } from './discord-config.js';

/** Who clicked or typed: their id, display name and role ids in the guild. */
export interface Member {
  readonly userId: string;
  readonly name: string;
  readonly roles: readonly string[];
}

export type Capability = 'view' | 'operate' | 'approve';

/** Whether the member may do it; the server decides, whatever Discord's UI showed. */
export function allowed(config: DiscordConfig, member: Member, capability: Capability): boolean {
  const has = (roles: readonly string[]) => roles.some((role) => member.roles.includes(role));
  switch (capability) {
    case 'view':
      return (
        config.viewerRoleIds.length === 0 ||
        has(config.viewerRoleIds) ||
        has(config.operatorRoleIds) ||
        has(config.approverRoleIds)
      );
    case 'operate':
      return has(config.operatorRoleIds);
    case 'approve':
      return has(config.approverRoleIds);
  }
}

/** The refusal a member reads (ephemeral), naming what they lack. */
export function refusal(capability: Capability): string {
  switch (capability) {
    case 'view':
      return 'You need a viewer role to use lab here.';
    case 'operate':
      return 'You need an operator role to start or steer runs.';
    case 'approve':
      return 'You need an approver role to approve or deny steps.';
  }
}
