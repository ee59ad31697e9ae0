/** `nixos-system-web-2` of `/nix/store/<hash>-nixos-system-web-2`; other paths unchanged. */
export const storeName = (path: string): string => path.replace(/^\/nix\/store\/[a-z0-9]{32}-/, '');
