# services.lab-orchestrator: runs `lab serve` (queue worker + Discord bot + run notifier) as a
# hardened systemd service, with a private Redis on a unix socket.
#
# From the flake: `lab.nixosModules.lab-orchestrator` (its `package` then defaults to the
# flake's package). Imported by path, `package` defaults to `pkgs.callPackage ../package.nix { }`.
#
# lab is configured through environment variables (see README, "Configuration"); this module
# only sets them from its options. Secrets (the Discord token, the SSH private key, an
# environment file) are read by systemd at start-up from paths outside the Nix store and handed
# to the service as credentials: they are never read while evaluating and never copied into the
# world-readable store. That is why their options are strings, not Nix paths: a path literal
# such as ./discord-token would be copied into the store the moment it is used.
#
# Descriptions are plain strings (no lib.mdDoc) so the module evaluates on old and new nixpkgs.
{ config, lib, pkgs, ... }:

let
  inherit (lib) mkOption mkEnableOption mkIf types literalExpression optional optionalAttrs;

  cfg = config.services.lab-orchestrator;

  # systemd's StateDirectory= / CacheDirectory= name: /var/lib/<name>, /var/cache/<name>.
  name = "lab-orchestrator";
  stateDir = "/var/lib/${name}";
  cacheDir = "/var/cache/${name}";

  redisServer = config.services.redis.servers.lab;
  # The unix socket of services.redis.servers.lab (the NixOS redis module's default for a
  # server named `lab`); `url` defaults to it.
  redisSocket = "/run/redis-lab/redis.sock";

  # Credential names (files in $CREDENTIALS_DIRECTORY, which systemd's %d specifier expands to).
  credential = {
    sshKey = "ssh-key";
    discordToken = "discord-token";
    knownHosts = "known-hosts";
  };

  secretOption = { description, example }: mkOption {
    type = types.nullOr types.str;
    default = null;
    inherit example;
    description = description + ''

      A string holding an absolute path outside the Nix store, e.g. /run/secrets/…
      (agenix, sops-nix, systemd-creds…), readable by root: systemd reads it when the service
      starts (LoadCredential) and hands the service a private copy. Never a Nix path literal,
      which would be copied into the world-readable store.
    '';
  };

  csv = lib.concatStringsSep ",";
  flag = b: if b then "1" else "0";

  # The directory of a local flake reference (an absolute path, path:… or git+file://…), for
  # `schedule.flakeUpdate`, which writes the flake's lock file; null for remote flakes.
  localFlakeDir =
    let
      withoutQuery = ref: builtins.head (lib.splitString "?" ref);
      flake = cfg.flake;
    in
    if lib.hasPrefix "/" flake then withoutQuery flake
    else if lib.hasPrefix "path:/" flake then withoutQuery (lib.removePrefix "path:" flake)
    else if lib.hasPrefix "git+file:///" flake then withoutQuery (lib.removePrefix "git+file://" flake)
    else null;

  isSnowflake = id: builtins.match "[0-9]{5,25}" id != null;

  secretPaths = lib.filterAttrs (_: value: value != null) {
    "services.lab-orchestrator.ssh.keyFile" = cfg.ssh.keyFile;
    "services.lab-orchestrator.discord.tokenFile" = cfg.discord.tokenFile;
    "services.lab-orchestrator.environmentFile" = cfg.environmentFile;
  };

  pathAssertions = lib.concatLists (lib.mapAttrsToList
    (option: path: [
      {
        assertion = lib.hasPrefix "/" path;
        message = "${option} must be an absolute path, not `${path}` (the service does not run in your directory)";
      }
      {
        assertion = !(lib.hasPrefix builtins.storeDir path);
        message = "${option} must not be in the Nix store (`${path}`): the store is world-readable; use a path outside it, e.g. /run/secrets/…";
      }
    ])
    secretPaths);

  discordIds = {
    guildIds = cfg.discord.guildIds;
    operatorRoleIds = cfg.discord.operatorRoleIds;
    approverRoleIds = cfg.discord.approverRoleIds;
    viewerRoleIds = cfg.discord.viewerRoleIds;
  } // lib.mapAttrs (_: id: lib.optional (id != null) id) {
    inherit (cfg.discord) applicationId channelId alertChannelId onCallRoleId;
  };

  discordAssertions = lib.optionals cfg.discord.enable ([
    {
      assertion = cfg.discord.tokenFile != null;
      message = "services.lab-orchestrator.discord.enable needs discord.tokenFile: the bot token's file, e.g. /run/secrets/discord-token";
    }
    {
      assertion = cfg.discord.guildIds != [ ];
      message = "services.lab-orchestrator.discord.enable needs discord.guildIds: at least one guild (server) id the bot answers in";
    }
    {
      assertion = cfg.discord.operatorRoleIds != [ ];
      message = "services.lab-orchestrator.discord.enable needs discord.operatorRoleIds: at least one role id allowed to start and steer runs";
    }
    {
      assertion = cfg.discord.approverRoleIds != [ ];
      message = "services.lab-orchestrator.discord.enable needs discord.approverRoleIds: at least one role id allowed to approve";
    }
  ] ++ lib.mapAttrsToList
    (option: ids: {
      assertion = lib.all isSnowflake ids;
      message = "services.lab-orchestrator.discord.${option}: Discord ids are 5 to 25 digits, not ${lib.concatMapStringsSep ", " (id: "`${id}`") (lib.filter (id: !isSnowflake id) ids)}";
    })
    discordIds);

  # systemd expands %-specifiers in Environment= and LoadCredential= (NixOS writes the values
  # as they are): a literal % in a value must be %%. Only the credential paths below use one (%d,
  # the service's credentials directory).
  escapeSpecifiers = builtins.replaceStrings [ "%" ] [ "%%" ];

  # The port of metrics.listen (host:port or [v6]:port), null when it is not one.
  metricsPort =
    let
      match = if cfg.metrics.listen == null then null else builtins.match "(\\[[0-9a-fA-F:.]+]|[A-Za-z0-9.-]+):([0-9]{1,5})" cfg.metrics.listen;
      port = if match == null then null else lib.toInt (builtins.elemAt match 1);
    in
    if port != null && port >= 1 && port <= 65535 then port else null;

  credentialEnvironment = {
    # The private key: systemd copied ssh.keyFile into the credentials directory at start-up.
    LAB_SSH_KEY = "%d/${credential.sshKey}";
  }
  // optionalAttrs (cfg.ssh.knownHostsFile != null) { LAB_KNOWN_HOSTS = "%d/${credential.knownHosts}"; }
  // optionalAttrs cfg.discord.enable { DISCORD_TOKEN_FILE = "%d/${credential.discordToken}"; };

  plainEnvironment = {
    LAB_FLAKE = cfg.flake;
    REDIS_URL = cfg.redis.url;
    LAB_QUEUE = cfg.queue;
    LAB_WORKER_CONCURRENCY = toString cfg.concurrency;
    LAB_COPY_CONCURRENCY = toString cfg.copyConcurrency;
    LAB_APPROVALS_LOW = toString cfg.approvals.low;
    LAB_APPROVALS_MEDIUM = toString cfg.approvals.medium;
    LAB_APPROVALS_HIGH = toString cfg.approvals.high;
    LAB_APPROVALS_CRITICAL = toString cfg.approvals.critical;
    LAB_SELF_APPROVAL = flag cfg.approvals.selfApproval;
    LAB_APPROVAL_TIMEOUT = toString cfg.approvals.timeout;
    LAB_HALT_TIMEOUT = toString cfg.haltTimeout;
    LAB_MONITOR_INTERVAL = toString cfg.monitor.interval;
    LAB_MONITOR_FAILURES = toString cfg.monitor.failureThreshold;
    LAB_MONITOR_SUCCESSES = toString cfg.monitor.successThreshold;
    LAB_MONITOR_FLAP_WINDOW = toString cfg.monitor.flapWindow;
    LAB_SCHEDULE_FLAKE_UPDATE = flag cfg.schedule.flakeUpdate;
    LAB_SCHEDULE_SKIP_BROKEN = flag cfg.schedule.skipBroken;
    LAB_CACHE_DIR = cacheDir;
    # The system's nix (the same version as its daemon); builds and store writes go through the
    # daemon: the service has no write access to /nix (ProtectSystem=strict).
    LAB_NIX = "${config.nix.package}/bin/nix";
    NIX_REMOTE = "daemon";
    HOME = stateDir;
    # nix's fetcher and evaluation caches.
    XDG_CACHE_HOME = cacheDir;
    # A git flake owned by root (e.g. /etc/nixos) would be refused by git as "dubious
    # ownership" under the service's dynamic user. safe.directory=* (only for this service's
    # processes) accepts it: the service only reads the flake.
    GIT_CONFIG_COUNT = "1";
    GIT_CONFIG_KEY_0 = "safe.directory";
    GIT_CONFIG_VALUE_0 = "*";
    LOG_LEVEL = cfg.logLevel;
    # One JSON object a line: journald keeps them as they are, log shippers parse them.
    LOG_FORMAT = "json";
  }
  // optionalAttrs (cfg.ssh.knownHostsFile == null && cfg.ssh.knownHosts != [ ]) {
    # Public keys: a file in the store is fine.
    LAB_KNOWN_HOSTS = toString (pkgs.writeText "lab-known-hosts" (lib.concatMapStrings (line: line + "\n") cfg.ssh.knownHosts));
  }
  // optionalAttrs (cfg.metrics.listen != null) { LAB_METRICS_LISTEN = cfg.metrics.listen; }
  // optionalAttrs (cfg.schedule.cron != null) { LAB_SCHEDULE = cfg.schedule.cron; }
  // optionalAttrs (cfg.schedule.timeZone != null) { LAB_SCHEDULE_TZ = cfg.schedule.timeZone; }
  // optionalAttrs (cfg.maintenanceWindow != null) { LAB_MAINTENANCE_WINDOW = cfg.maintenanceWindow; }
  // optionalAttrs cfg.discord.enable (
    {
      DISCORD_GUILD_IDS = csv cfg.discord.guildIds;
      DISCORD_OPERATOR_ROLE_IDS = csv cfg.discord.operatorRoleIds;
      DISCORD_APPROVER_ROLE_IDS = csv cfg.discord.approverRoleIds;
    }
    // optionalAttrs (cfg.discord.applicationId != null) { DISCORD_APPLICATION_ID = cfg.discord.applicationId; }
    // optionalAttrs (cfg.discord.viewerRoleIds != [ ]) { DISCORD_VIEWER_ROLE_IDS = csv cfg.discord.viewerRoleIds; }
    // optionalAttrs (cfg.discord.channelId != null) { DISCORD_CHANNEL_ID = cfg.discord.channelId; }
    // optionalAttrs (cfg.discord.alertChannelId != null) { DISCORD_ALERT_CHANNEL_ID = cfg.discord.alertChannelId; }
    // optionalAttrs (cfg.discord.onCallRoleId != null) { DISCORD_ONCALL_ROLE_ID = cfg.discord.onCallRoleId; }
  );

  # The `lab` command for this machine's administrators (`cli.enable`): the service's queue,
  # Redis and flake unless the caller's environment says otherwise, so that `lab status` and
  # `lab approve <run> <machine>` in a shell on this machine reach the service's runs.
  cliDefaults = {
    REDIS_URL = cfg.redis.url;
    LAB_QUEUE = cfg.queue;
    LAB_FLAKE = cfg.flake;
  };
  cli = pkgs.writeShellScriptBin "lab" ''
    ${lib.concatStrings (lib.mapAttrsToList (name: value: ''
      export ${name}="''${${name}:-${lib.escape [ "\\" "\"" "$" "`" ] value}}"
    '') cliDefaults)}
    exec ${lib.escapeShellArg (lib.getExe cfg.package)} "$@"
  '';

  # extraEnvironment last: it overrides the module's variables (EnvironmentFile= overrides all).
  environment = lib.mapAttrs (_: escapeSpecifiers) plainEnvironment
    // credentialEnvironment
    // lib.mapAttrs (_: escapeSpecifiers) cfg.extraEnvironment;
in
{
  options.services.lab-orchestrator = {
    enable = mkEnableOption "lab, the chat-ops orchestrator of this homelab (`lab serve`: queue worker, Discord bot and run notifier)";

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ../package.nix { };
      defaultText = literalExpression ''
        lab.packages.''${pkgs.stdenv.hostPlatform.system}.default  # imported from lab's flake
        pkgs.callPackage "''${lab}/nix/package.nix" { }            # imported by path
      '';
      description = "The lab package; the service runs its `lab serve`.";
      example = literalExpression "lab.packages.x86_64-linux.default";
    };

    flake = mkOption {
      type = types.str;
      description = ''
        The homelab flake lab reads (`LAB_FLAKE`): the flake whose `nixosConfigurations` import
        the lab-machine module. Any flake reference nix accepts; a local git flake owned by root
        works (see GIT_CONFIG_* in the service's environment).
      '';
      example = "git+https://git.example.org/homelab";
    };

    environmentFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/run/secrets/lab.env";
      description = ''
        An environment file (systemd EnvironmentFile=, `NAME=value` lines) with more variables,
        e.g. secrets such as LAB_SSH_KEY_PASSPHRASE or REDIS_URL with a password. Read by systemd
        (as root) when the service starts. An absolute path outside the Nix store, given as a
        string (a Nix path literal would be copied into the world-readable store). Its variables
        override those of this module.
      '';
    };

    queue = mkOption {
      type = types.strMatching "[A-Za-z0-9_.-]{1,64}";
      default = "lab";
      description = "Queue name (`LAB_QUEUE`): every Redis key of lab's lives under it, so several labs can share one Redis.";
      example = "homelab";
    };

    concurrency = mkOption {
      type = types.ints.between 1 64;
      default = 4;
      description = "Runs the worker carries out at once (`LAB_WORKER_CONCURRENCY`).";
      example = 2;
    };

    copyConcurrency = mkOption {
      type = types.ints.between 0 64;
      default = 4;
      description = ''
        Closures a deploy copies at once to the machines of later steps while earlier steps
        activate and are health-gated (`LAB_COPY_CONCURRENCY`); `0` copies each closure only when
        its machine's turn comes. Activation order and gating do not change, and a closure copied
        to a machine whose turn never comes (a failed gate stops the run) only adds store paths
        there: nothing it runs or boots changes.
      '';
      example = 1;
    };

    logLevel = mkOption {
      type = types.enum [ "trace" "debug" "info" "warn" "error" "fatal" "silent" ];
      default = "info";
      description = "Least severe log level written to the journal (`LOG_LEVEL`); logs are JSON lines (`LOG_FORMAT=json`).";
      example = "debug";
    };

    haltTimeout = mkOption {
      type = types.ints.positive;
      default = 3600;
      description = "Seconds a halted run waits for retry, skip or abort before it is aborted (`LAB_HALT_TIMEOUT`).";
      example = 7200;
    };

    monitor = {
      interval = mkOption {
        type = types.ints.between 0 86400;
        default = 60;
        description = ''
          Seconds between the monitor's checks of each machine between runs (`LAB_MONITOR_INTERVAL`):
          reachability over SSH and its healthChecks, with alerts after `failureThreshold` failures.
          A machine's `lab.machine.monitor.interval` overrides it; 0 turns the monitor off.
        '';
        example = 30;
      };
      failureThreshold = mkOption {
        type = types.ints.between 1 100;
        default = 3;
        description = "Consecutive failing checks before a machine is reported (`LAB_MONITOR_FAILURES`).";
        example = 5;
      };
      successThreshold = mkOption {
        type = types.ints.between 1 100;
        default = 2;
        description = "Consecutive passing checks before it is reported recovered (`LAB_MONITOR_SUCCESSES`).";
        example = 3;
      };
      flapWindow = mkOption {
        type = types.ints.between 0 86400;
        default = 900;
        description = "Seconds after a recovery during which failing again reopens the same alert instead of paging again (`LAB_MONITOR_FLAP_WINDOW`).";
        example = 3600;
      };
    };

    metrics = {
      listen = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = ''
          Where lab's Prometheus endpoint (`/metrics`) listens, host:port (`LAB_METRICS_LISTEN`);
          null: no endpoint. Machine up/health, checks and their latency, runs, durations, queues.
        '';
        example = "127.0.0.1:9464";
      };
      openFirewall = mkOption {
        type = types.bool;
        default = false;
        description = "Open the metrics port in the firewall (for a Prometheus on another machine; then listen on a non-loopback address).";
        example = true;
      };
    };

    cli.enable = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Install a `lab` command preset to this service's Redis, queue and flake (REDIS_URL,
        LAB_QUEUE, LAB_FLAKE; what the caller's environment sets wins), so that `lab status`,
        `lab approve <run> <machine>` and `lab reboot --queue` in a shell on this machine work
        on the service's runs. With the local Redis, its socket is for root and the members of
        the `redis-lab` group (add yourself: `users.users.<you>.extraGroups = [ "redis-lab" ]`).
      '';
      example = false;
    };

    extraEnvironment = mkOption {
      type = types.attrsOf types.str;
      default = { };
      description = ''
        More environment variables for the service (not secrets: they end up in the unit file
        in the Nix store; use `environmentFile` for those). They override this module's.
      '';
      example = { LAB_ACTIVE_WAIT = "300"; DISCORD_EDIT_INTERVAL_MS = "2000"; };
    };

    discord = {
      enable = mkEnableOption "the Discord bot (`/lab` commands, Approve buttons) and run messages";

      tokenFile = secretOption {
        description = "File holding the bot token (`DISCORD_TOKEN_FILE` points at the service's credential copy).";
        example = "/run/secrets/discord-token";
      };

      applicationId = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "The bot's application id (`DISCORD_APPLICATION_ID`), for registering /lab; null: lab asks Discord for it.";
        example = "123456789012345678";
      };

      guildIds = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Guilds (servers) the bot answers in and registers `/lab` for (`DISCORD_GUILD_IDS`); others are ignored.";
        example = [ "234567890123456789" ];
      };

      channelId = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "Channel where runs started outside Discord (CLI, schedule) are shown (`DISCORD_CHANNEL_ID`).";
        example = "345678901234567890";
      };

      alertChannelId = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "Channel for failure alerts (`DISCORD_ALERT_CHANNEL_ID`); null: the run's own channel.";
        example = "456789012345678901";
      };

      onCallRoleId = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "Role mentioned in failure alerts (`DISCORD_ONCALL_ROLE_ID`).";
        example = "567890123456789012";
      };

      operatorRoleIds = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Roles that may start, cancel, retry, skip and abort runs (`DISCORD_OPERATOR_ROLE_IDS`); at least one.";
        example = [ "678901234567890123" ];
      };

      approverRoleIds = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Roles that may approve and deny steps (`DISCORD_APPROVER_ROLE_IDS`); at least one.";
        example = [ "789012345678901234" ];
      };

      viewerRoleIds = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Roles that may use the read-only commands (`DISCORD_VIEWER_ROLE_IDS`); empty: everyone in an allowed guild.";
        example = [ "890123456789012345" ];
      };
    };

    ssh = {
      keyFile = secretOption {
        description = "The private key lab logs into the machines with (`LAB_SSH_KEY` points at the service's credential copy). Required. For an encrypted key, put LAB_SSH_KEY_PASSPHRASE into `environmentFile`.";
        example = "/run/secrets/lab-ssh-key";
      };

      knownHosts = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = ''
          The machines' host keys, as known_hosts lines (`host key-type base64-key`); they are
          public, so they go into a file in the Nix store (`LAB_KNOWN_HOSTS`). lab never trusts a
          host key on first use: set this or `knownHostsFile`.
        '';
        example = [ "db.lab.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHJhbmRvbWtleWZvcmRvY3VtZW50YXRpb25vbmx5" ];
      };

      knownHostsFile = mkOption {
        type = types.nullOr types.path;
        default = null;
        description = ''
          A known_hosts file instead of `knownHosts`, e.g. /etc/ssh/ssh_known_hosts (which
          NixOS's programs.ssh.knownHosts writes). Read by systemd when the service starts, so it
          may be readable by root only.
        '';
        example = "/etc/ssh/ssh_known_hosts";
      };
    };

    redis = {
      createLocally = mkOption {
        type = types.bool;
        default = true;
        description = ''
          Run a private Redis for the queue: services.redis.servers.lab, on its unix socket only
          (no TCP port), with append-only persistence (a crash of Redis loses no run) and
          `maxmemory-policy noeviction` (BullMQ needs it). The service joins the Redis server's
          group to reach the socket.
        '';
        example = false;
      };

      url = mkOption {
        type = types.str;
        default = if cfg.redis.createLocally then "unix://${redisSocket}" else "redis://127.0.0.1:6379";
        defaultText = literalExpression ''
          if createLocally then "unix:///run/redis-lab/redis.sock" else "redis://127.0.0.1:6379"
        '';
        description = ''
          The queue's Redis (`REDIS_URL`): redis://, rediss:// (TLS) or unix:///path/to/redis.sock.
          A URL with a password belongs in `environmentFile` (REDIS_URL=…) instead: this one ends
          up in the Nix store.
        '';
        example = "rediss://redis.lab.example:6380";
      };
    };

    maintenanceWindow = mkOption {
      type = types.nullOr (types.strMatching "[^\n]+");
      default = null;
      description = ''
        The global maintenance window (`LAB_MAINTENANCE_WINDOW`), `[days] HH:MM-HH:MM [time zone]`:
        scheduled runs, and runs started with `--in-window` or `/lab reboot|deploy window:wait`,
        start a machine's reboot or activation only inside its window (its own
        `lab.machine.orchestration.maintenanceWindow` first), and only when it can finish before
        the window closes; a machine outside waits for it. null: machines without a window of
        their own may start at any time.
      '';
      example = "mon-fri 01:00-05:00 Europe/Berlin";
    };

    schedule = {
      cron = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = ''
          When the nightly pipeline runs (`LAB_SCHEDULE`, a cron expression of 5 or 6 fields):
          optionally `nix flake update`, deploy every machine, then reboot, in order, those whose
          kernel, initrd or modules changed. It obeys approvals like any run. null: no schedule.
        '';
        example = "0 3 * * *";
      };

      timeZone = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "Time zone of the cron expression (`LAB_SCHEDULE_TZ`); null: the system's.";
        example = "Europe/Berlin";
      };

      flakeUpdate = mkOption {
        type = types.bool;
        default = false;
        description = ''
          Run `nix flake update` on the flake before the scheduled deploy
          (`LAB_SCHEDULE_FLAKE_UPDATE`). This writes the flake's flake.lock, so `flake` must be a
          local flake (an absolute path, path:… or git+file://…); its directory is made writable
          for the service (ReadWritePaths) but must also be writable by the service's dynamic
          user, e.g. through an ACL.
        '';
        example = true;
      };

      skipBroken = mkOption {
        type = types.bool;
        default = false;
        description = ''
          What the nightly pipeline does when a host's `lab.machine` cannot be read (it fails
          to evaluate or is invalid) (`LAB_SCHEDULE_SKIP_BROKEN`). false: it refuses and deploys
          nothing; its job fails with a message naming each such host and what is wrong, in the
          service's log. true: it deploys the other machines and lists those as skipped.
        '';
        example = true;
      };
    };

    approvals = {
      low = mkOption {
        type = types.ints.between 0 10;
        default = 0;
        description = "Distinct approvers a step on a `low` machine needs (`LAB_APPROVALS_LOW`).";
        example = 1;
      };
      medium = mkOption {
        type = types.ints.between 0 10;
        default = 0;
        description = "Distinct approvers a step on a `medium` machine needs (`LAB_APPROVALS_MEDIUM`).";
        example = 1;
      };
      high = mkOption {
        type = types.ints.between 0 10;
        default = 1;
        description = "Distinct approvers a step on a `high` machine needs (`LAB_APPROVALS_HIGH`).";
        example = 2;
      };
      critical = mkOption {
        type = types.ints.between 0 10;
        default = 2;
        description = "Distinct approvers a step on a `critical` machine needs (`LAB_APPROVALS_CRITICAL`).";
        example = 3;
      };
      selfApproval = mkOption {
        type = types.bool;
        default = false;
        description = "Whether whoever started a run may approve its steps (`LAB_SELF_APPROVAL`).";
        example = true;
      };
      timeout = mkOption {
        type = types.ints.positive;
        default = 1800;
        description = "Seconds an approval request stays open; then the run is cancelled (`LAB_APPROVAL_TIMEOUT`).";
        example = 3600;
      };
    };
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = cfg.ssh.keyFile != null;
        message = "services.lab-orchestrator.ssh.keyFile must be set: the private key lab logs into the machines with, e.g. /run/secrets/lab-ssh-key";
      }
      {
        assertion = cfg.ssh.knownHosts != [ ] || cfg.ssh.knownHostsFile != null;
        message = "services.lab-orchestrator: set ssh.knownHosts (known_hosts lines) or ssh.knownHostsFile: lab never trusts a host key on first use";
      }
      {
        assertion = cfg.ssh.knownHosts == [ ] || cfg.ssh.knownHostsFile == null;
        message = "services.lab-orchestrator: set ssh.knownHosts or ssh.knownHostsFile, not both (lab reads one known_hosts file)";
      }
      {
        assertion = cfg.ssh.knownHostsFile == null || lib.hasPrefix "/" (toString cfg.ssh.knownHostsFile);
        message = "services.lab-orchestrator.ssh.knownHostsFile must be an absolute path, not `${toString cfg.ssh.knownHostsFile}`";
      }
      {
        assertion = cfg.flake != "";
        message = "services.lab-orchestrator.flake must not be empty: the homelab flake lab reads, e.g. /etc/nixos";
      }
      {
        assertion = builtins.match "(rediss?://.+|unix:///.+)" cfg.redis.url != null;
        message = "services.lab-orchestrator.redis.url must start with redis://, rediss:// or unix:/// (not `${cfg.redis.url}`)";
      }
      {
        assertion = cfg.schedule.cron == null || builtins.match "[^[:space:]]+([[:space:]]+[^[:space:]]+){4,5}" cfg.schedule.cron != null;
        message = "services.lab-orchestrator.schedule.cron must be a cron expression of 5 or 6 fields, e.g. \"0 3 * * *\" (not `${toString cfg.schedule.cron}`)";
      }
      {
        assertion = cfg.metrics.listen == null || metricsPort != null;
        message = "services.lab-orchestrator.metrics.listen must be host:port, e.g. 127.0.0.1:9464 or [::1]:9464 (not `${toString cfg.metrics.listen}`)";
      }
      {
        assertion = !cfg.metrics.openFirewall || cfg.metrics.listen != null;
        message = "services.lab-orchestrator.metrics.openFirewall needs metrics.listen (host:port)";
      }
      {
        assertion = !cfg.schedule.flakeUpdate || localFlakeDir != null;
        message = "services.lab-orchestrator.schedule.flakeUpdate writes flake.lock, so flake must be a local flake (an absolute path, path:/… or git+file:///…), not `${cfg.flake}`";
      }
    ] ++ pathAssertions ++ discordAssertions;

    warnings = optional (cfg.schedule.flakeUpdate && cfg.schedule.cron == null)
      "services.lab-orchestrator.schedule.flakeUpdate has no effect without schedule.cron";

    environment.systemPackages = optional cfg.cli.enable cli;

    networking.firewall.allowedTCPPorts = optional (cfg.metrics.openFirewall && metricsPort != null) metricsPort;

    services.redis.servers.lab = mkIf cfg.redis.createLocally {
      enable = true;
      # The unix socket only: nothing outside this machine, and only the members of the server's
      # group (the service) can reach the queue.
      port = 0;
      unixSocket = redisSocket;
      # Every write is logged (fsync each second): a crash or a reboot of this machine does not
      # lose queued runs, approvals or checkpoints.
      appendOnly = true;
      # BullMQ refuses to run on a Redis that may evict its keys.
      settings.maxmemory-policy = "noeviction";
    };

    systemd.services.lab-orchestrator = {
      description = "lab: chat-ops orchestrator (queue worker, Discord bot, run notifier)";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ] ++ optional cfg.redis.createLocally "redis-lab.service";
      after = [ "network-online.target" ] ++ optional cfg.redis.createLocally "redis-lab.service";

      inherit environment;

      serviceConfig = {
        Type = "exec";
        ExecStart = "${lib.getExe cfg.package} serve";
        # SIGTERM: lab stops taking work, parks its running runs at the next phase boundary
        # (another worker or the next start resumes them) and exits 0. KillMode=mixed: only lab
        # gets it, not the nix and ssh processes it started (lab decides about those); what is
        # left when it has exited is stopped by systemd. A run still not parked after 60 s is
        # killed, which lab survives too: the run resumes from its last checkpoint.
        KillMode = "mixed";
        TimeoutStopSec = 60;
        Restart = "on-failure";
        RestartSec = 5;

        DynamicUser = true;
        StateDirectory = name;
        StateDirectoryMode = "0700";
        CacheDirectory = name;
        CacheDirectoryMode = "0700";
        WorkingDirectory = stateDir;
        SupplementaryGroups = optional cfg.redis.createLocally (redisServer.group or redisServer.user);

        # Secrets: systemd (as root) copies them into the service's private credentials
        # directory ($CREDENTIALS_DIRECTORY, %d) at start-up; never into the Nix store.
        LoadCredential = map escapeSpecifiers (
          optional (cfg.ssh.keyFile != null) "${credential.sshKey}:${cfg.ssh.keyFile}"
          ++ optional (cfg.discord.enable && cfg.discord.tokenFile != null) "${credential.discordToken}:${cfg.discord.tokenFile}"
          # Public: a Nix path literal may be copied into the store (interpolation does that).
          ++ optional (cfg.ssh.knownHostsFile != null) "${credential.knownHosts}:${cfg.ssh.knownHostsFile}"
        );
        EnvironmentFile = optional (cfg.environmentFile != null) cfg.environmentFile;

        # Hardening. lab needs: the network (SSH to the machines, Discord, Redis), the nix
        # daemon's socket (connecting to a unix socket works on a read-only file system), its
        # state and cache directories, and to run nix, git and ssh.
        NoNewPrivileges = true;
        ProtectSystem = "strict";
        # read-only, not true: a homelab flake may live in a home directory
        # (LAB_FLAKE=/home/alice/homelab); lab and nix must be able to read it there.
        ProtectHome = "read-only";
        ReadWritePaths = optional (cfg.schedule.flakeUpdate && localFlakeDir != null) localFlakeDir;
        PrivateTmp = true;
        PrivateDevices = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectClock = true;
        ProtectHostname = true;
        ProtectProc = "invisible";
        RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        RemoveIPC = true;
        LockPersonality = true;
        SystemCallArchitectures = "native";
        SystemCallFilter = [ "@system-service" ];
        SystemCallErrorNumber = "EPERM";
        CapabilityBoundingSet = "";
        AmbientCapabilities = "";
        UMask = "0077";
        # Not MemoryDenyWriteExecute: Node.js's JIT compiler needs writable and executable
        # memory; with it, lab crashes at start.
        MemoryDenyWriteExecute = false;
      };
    };
  };
}
