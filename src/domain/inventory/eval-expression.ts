/**
 * The Nix functions lab applies to `<flake>#nixosConfigurations` with `nix eval --json --apply`.
 * They are constants: host names and other data never enter them (a host to diagnose is passed
 * through the environment), so nothing from a flake or a user is ever spliced into Nix code.
 *
 * Per host the result is one of
 *   { status = "managed"; machine = <config.lab.machine>; hostName = <networking.hostName or null>; }
 *   { status = "unmanaged"; }   the configuration has no lab.machine (does not use the module)
 *   { status = "broken"; }      evaluating it threw; the message is fetched per host afterwards
 */

const helpers = `
  clean = value:
    if builtins.isAttrs value then builtins.mapAttrs (_: clean) (builtins.removeAttrs value [ "_module" ])
    else if builtins.isList value then map clean value
    else if builtins.isFunction value then null
    else value;
  hasMachine = host:
    let config = host.config or null;
    in builtins.isAttrs config && config ? lab && builtins.isAttrs config.lab && config.lab ? machine;
  hostNameOf = host: host.config.networking.hostName or null;
`;

/** All hosts in one evaluation; a host that throws is marked broken instead of failing the rest. */
export const EVAL_ALL_HOSTS = `configurations:
let
${helpers}
  try = value: builtins.tryEval (builtins.deepSeq value value);
  readHost = host:
    let managed = try (hasMachine host);
    in
    if !managed.success then { status = "broken"; }
    else if !managed.value then { status = "unmanaged"; }
    else
      let
        machine = try (clean host.config.lab.machine);
        hostName = try (hostNameOf host);
      in
      if !machine.success then { status = "broken"; }
      else { status = "managed"; machine = machine.value; hostName = if hostName.success then hostName.value else null; };
in
builtins.mapAttrs (_: readHost) configurations`;

/** The attribute names alone: the fallback when a host aborts the batched evaluation. */
export const EVAL_HOST_NAMES = 'builtins.attrNames';

/** Environment variable carrying the host to diagnose into {@link EVAL_ONE_HOST}. */
export const HOST_ENV = 'LAB_EVAL_HOST';

/**
 * One host, without catching anything, so that nix reports the host's own error message.
 * Needs `--impure` for getEnv; used only on the error path.
 */
export const EVAL_ONE_HOST = `configurations:
let
${helpers}
  host = configurations.\${builtins.getEnv "${HOST_ENV}"};
in
if !(hasMachine host) then { status = "unmanaged"; }
else { status = "managed"; machine = clean host.config.lab.machine; hostName = hostNameOf host; }`;
