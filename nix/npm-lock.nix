# Fills in the registry URL (`resolved`) of every package in a parsed package-lock.json.
#
# Our package-lock.json has no `resolved` fields: it is written with npm's
# `omit-lockfile-registry-resolved` setting, which leaves out URLs that follow from the registry's
# fixed layout. nixpkgs' importNpmLock fetches a package only when its entry has `resolved` (the
# `integrity` hash is what pins it), so this function puts the URL back, exactly as npm derives
# it: https://registry.npmjs.org/<name>/-/<name without scope>-<version>.tgz. Nothing here is a
# hash to maintain: the sha512 `integrity` of each entry stays what package-lock.json says.
#
# Builtins only (no nixpkgs lib), so the tests can evaluate it without nixpkgs:
#   nix-instantiate --eval --strict --json -E \
#     'import ./nix/npm-lock.nix (builtins.fromJSON (builtins.readFile ./package-lock.json))'
packageLock:
let
  registry = "https://registry.npmjs.org";

  last = list: builtins.elemAt list (builtins.length list - 1);

  # "node_modules/a/node_modules/@scope/b" -> "@scope/b" (the package a nested entry installs).
  installedName = key: last (builtins.split "node_modules/" key);

  fill = key: entry:
    let
      # An npm alias ("x": "npm:y@1") records the real package in `name`.
      name = entry.name or (installedName key);
      # "@scope/b" -> "b": the tarball's file name has no scope.
      baseName = last (builtins.split "/" name);
    in
    if key == "" # the project itself
      || entry ? resolved # already has its URL (a git, file or non-registry dependency)
      || entry.link or false # a workspace symlink, nothing to fetch
      || entry.inBundle or false # shipped inside its parent's tarball
      || !(entry ? version)
    then entry
    else entry // { resolved = "${registry}/${name}/-/${baseName}-${entry.version}.tgz"; };
in
packageLock // { packages = builtins.mapAttrs fill (packageLock.packages or { }); }
