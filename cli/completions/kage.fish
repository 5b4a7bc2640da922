# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_kage_global_optspecs
    string join \n h/help V/version
end

function __fish_kage_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_kage_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_kage_using_subcommand
    set -l cmd (__fish_kage_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c kage -n "__fish_kage_needs_command" -s h -l help -d 'Print help'
complete -c kage -n "__fish_kage_needs_command" -s V -l version -d 'Print version'
complete -c kage -n "__fish_kage_needs_command" -f -a "keygen" -d 'Generate a new identity (private key) and print its recipient (public key)'
complete -c kage -n "__fish_kage_needs_command" -f -a "seal" -d 'Seal a Secret (or literal values) into a SealedSecret'
complete -c kage -n "__fish_kage_needs_command" -f -a "unseal" -d 'Recover the Secrets from SealedSecrets with private keys, offline'
complete -c kage -n "__fish_kage_needs_command" -f -a "inspect" -d 'Show keys, scopes, bindings and key fingerprints of SealedSecrets; no key needed'
complete -c kage -n "__fish_kage_needs_command" -f -a "validate" -d 'Check SealedSecret files offline (structure, bindings), or with --cluster whether the cluster can unseal them'
complete -c kage -n "__fish_kage_needs_command" -f -a "reseal" -d 'Re-encrypt SealedSecret files to the cluster\'s current key, in place'
complete -c kage -n "__fish_kage_needs_command" -f -a "key" -d 'Cluster keys: fetch the public key to seal to'
complete -c kage -n "__fish_kage_needs_command" -f -a "migrate" -d 'Turn Bitnami Sealed Secrets files into kage SealedSecrets, opening each value with the Sealed Secrets keys and sealing it to the kage cluster key; nothing in clear on disk'
complete -c kage -n "__fish_kage_needs_command" -f -a "status" -d 'List SealedSecrets and whether the controller has unsealed them'
complete -c kage -n "__fish_kage_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c kage -n "__fish_kage_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kage -n "__fish_kage_using_subcommand keygen" -s o -l output -d 'Write the identity to FILE (mode 0600; never overwrites) instead of stdout' -r -F
complete -c kage -n "__fish_kage_using_subcommand keygen" -s h -l help -d 'Print help'
complete -c kage -n "__fish_kage_using_subcommand seal" -s f -l filename -d 'Secret manifest to seal (YAML or JSON, several documents allowed); "-" is stdin. Read from stdin when no file and no --from-* flag is given' -r -F
complete -c kage -n "__fish_kage_using_subcommand seal" -l from-literal -d 'A value given on the command line, as KEY=VALUE (repeatable). A value on the command line shows in `ps` and shell history: use KEY=- to read it from stdin instead (asked for, without echo, when stdin is a terminal)' -r
complete -c kage -n "__fish_kage_using_subcommand seal" -l from-file -d 'A value read from a file, as [KEY=]PATH; KEY defaults to the file name (repeatable)' -r
complete -c kage -n "__fish_kage_using_subcommand seal" -l from-env-file -d 'Values read from an env file of KEY=VALUE lines (repeatable)' -r -F
complete -c kage -n "__fish_kage_using_subcommand seal" -l name -d 'Name of the SealedSecret (and of the Secret it creates)' -r
complete -c kage -n "__fish_kage_using_subcommand seal" -s n -l namespace -d 'Namespace (default: the input\'s, then the kubeconfig context\'s, then "default")' -r
complete -c kage -n "__fish_kage_using_subcommand seal" -l type -d 'Secret type, for --from-* input (default Opaque)' -r
complete -c kage -n "__fish_kage_using_subcommand seal" -l scope -d 'Where the values may be opened (default: .kage.yaml\'s, else strict)' -r -f -a "strict\t'Namespace, name and key must match (default)'
namespace-wide\t'Namespace and key must match'
cluster-wide\t'Only the key must match'"
complete -c kage -n "__fish_kage_using_subcommand seal" -l allow-metadata-prefix -d 'Label and annotation prefixes the controller allows templates to set besides unprefixed keys and `app.kubernetes.io/` (its --allow-template-metadata-prefix); repeatable' -r
complete -c kage -n "__fish_kage_using_subcommand seal" -s r -l recipient -d 'Seal to this recipient (age1...; repeatable)' -r
complete -c kage -n "__fish_kage_using_subcommand seal" -s R -l recipients-file -d 'Seal to every recipient listed in FILE, one per line (repeatable)' -r -F
complete -c kage -n "__fish_kage_using_subcommand seal" -l recovery -d 'Also seal to this offline recovery recipient (age1...; repeatable)' -r
complete -c kage -n "__fish_kage_using_subcommand seal" -s w -l write -d 'Write the SealedSecret to FILE atomically instead of stdout' -r -F
complete -c kage -n "__fish_kage_using_subcommand seal" -l merge-into -d 'Update the SealedSecret in FILE in place: reseal the keys given, keep every other value. Refused when the new values would lack a recipient every other value of the file has (a recovery key), unless --drop-recipient names it' -r -F
complete -c kage -n "__fish_kage_using_subcommand seal" -l drop-recipient -d 'With --merge-into: leave out on purpose this recipient (a fingerprint, as `kage inspect` shows it) that the file\'s other values have; repeatable' -r
complete -c kage -n "__fish_kage_using_subcommand seal" -l template-file -d 'Take spec.template from FILE (YAML or JSON: type, immutable, metadata, data, omit): its `data` composes values from the sealed ones (docs/templates.md). Checked before writing' -r -F
complete -c kage -n "__fish_kage_using_subcommand seal" -s o -l output -d 'Output format' -r -f -a "yaml\t'YAML documents'
json\t'JSON'"
complete -c kage -n "__fish_kage_using_subcommand seal" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kage -n "__fish_kage_using_subcommand seal" -l context -d 'Kubeconfig context to use' -r
complete -c kage -n "__fish_kage_using_subcommand seal" -l controller-namespace -d 'Namespace of the kage controller' -r
complete -c kage -n "__fish_kage_using_subcommand seal" -l controller-name -d 'Name of the kage controller (Service and Deployment)' -r
complete -c kage -n "__fish_kage_using_subcommand seal" -l controller-url -d 'Reach the controller\'s HTTP API here instead of through the API server\'s service proxy' -r
complete -c kage -n "__fish_kage_using_subcommand seal" -l raw -d 'Print one sealed value only (for templates); takes exactly one --from-literal/--from-file'
complete -c kage -n "__fish_kage_using_subcommand seal" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kage -n "__fish_kage_using_subcommand unseal" -s i -l identity -d 'Identity file (AGE-SECRET-KEY-1... lines); repeatable. Default: $KAGE_IDENTITY_FILE (a path, as SOPS reads SOPS_AGE_KEY_FILE; a key itself in the environment is not read: every child process, and /proc, would see it)' -r -F
complete -c kage -n "__fish_kage_using_subcommand unseal" -s f -l filename -d 'SealedSecret manifest; "-" or absent is stdin' -r -F
complete -c kage -n "__fish_kage_using_subcommand unseal" -s o -l output -d 'Output format' -r -f -a "yaml\t'YAML documents'
json\t'JSON'"
complete -c kage -n "__fish_kage_using_subcommand unseal" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kage -n "__fish_kage_using_subcommand inspect" -s f -l filename -d 'SealedSecret manifest; "-" or absent is stdin' -r -F
complete -c kage -n "__fish_kage_using_subcommand inspect" -l recovery -d 'Recovery recipients to look for (default: the file\'s .kage.yaml rule)' -r
complete -c kage -n "__fish_kage_using_subcommand inspect" -s o -l output -d 'Print JSON instead of text' -r -f -a "yaml\t'YAML documents'
json\t'JSON'"
complete -c kage -n "__fish_kage_using_subcommand inspect" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kage -n "__fish_kage_using_subcommand validate" -l recovery -d 'Recovery recipients that count (default: each file\'s .kage.yaml rule)' -r
complete -c kage -n "__fish_kage_using_subcommand validate" -l allow-metadata-prefix -d 'Label and annotation prefixes the controller allows templates to set besides unprefixed keys and `app.kubernetes.io/` (its --allow-template-metadata-prefix); repeatable' -r
complete -c kage -n "__fish_kage_using_subcommand validate" -l exclude -d 'Leave out files whose path matches this glob (e.g. \'charts/**\'); repeatable' -r
complete -c kage -n "__fish_kage_using_subcommand validate" -s o -l output -d 'Print the report as JSON or YAML on stdout instead of text on stderr' -r -f -a "yaml\t'YAML documents'
json\t'JSON'"
complete -c kage -n "__fish_kage_using_subcommand validate" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kage -n "__fish_kage_using_subcommand validate" -l context -d 'Kubeconfig context to use' -r
complete -c kage -n "__fish_kage_using_subcommand validate" -l controller-namespace -d 'Namespace of the kage controller' -r
complete -c kage -n "__fish_kage_using_subcommand validate" -l controller-name -d 'Name of the kage controller (Service and Deployment)' -r
complete -c kage -n "__fish_kage_using_subcommand validate" -l controller-url -d 'Reach the controller\'s HTTP API here instead of through the API server\'s service proxy' -r
complete -c kage -n "__fish_kage_using_subcommand validate" -l cluster -d 'Also ask the controller whether it can unseal each SealedSecret'
complete -c kage -n "__fish_kage_using_subcommand validate" -l require-recovery -d 'Fail on values without a recovery recipient (from .kage.yaml, or --recovery)'
complete -c kage -n "__fish_kage_using_subcommand validate" -l allow-empty -d 'Pass a PATH that holds no kage SealedSecret and no plaintext Secret (a pre-commit hook given only the changed files); by default it fails, so that a gate cannot pass by checking nothing'
complete -c kage -n "__fish_kage_using_subcommand validate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kage -n "__fish_kage_using_subcommand reseal" -s i -l identity -d 'Reseal offline with these identities instead of through the controller' -r -F
complete -c kage -n "__fish_kage_using_subcommand reseal" -s r -l recipient -d 'Offline: seal to this recipient (repeatable; default .kage.yaml, then the cluster)' -r
complete -c kage -n "__fish_kage_using_subcommand reseal" -l drop-recipient -d 'Drop on purpose this recipient (a fingerprint, as `kage inspect` shows it) that is not a cluster key; without it a file whose values would lose one is left unchanged' -r
complete -c kage -n "__fish_kage_using_subcommand reseal" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kage -n "__fish_kage_using_subcommand reseal" -l context -d 'Kubeconfig context to use' -r
complete -c kage -n "__fish_kage_using_subcommand reseal" -l controller-namespace -d 'Namespace of the kage controller' -r
complete -c kage -n "__fish_kage_using_subcommand reseal" -l controller-name -d 'Name of the kage controller (Service and Deployment)' -r
complete -c kage -n "__fish_kage_using_subcommand reseal" -l controller-url -d 'Reach the controller\'s HTTP API here instead of through the API server\'s service proxy' -r
complete -c kage -n "__fish_kage_using_subcommand reseal" -l dry-run -d 'Say what would change, file by file and value by value, and write nothing'
complete -c kage -n "__fish_kage_using_subcommand reseal" -s h -l help -d 'Print help'
complete -c kage -n "__fish_kage_using_subcommand key; and not __fish_seen_subcommand_from fetch list rotate backup restore retire help" -s h -l help -d 'Print help'
complete -c kage -n "__fish_kage_using_subcommand key; and not __fish_seen_subcommand_from fetch list rotate backup restore retire help" -f -a "fetch" -d 'Read the controller\'s public keys through the kubeconfig and print the current one'
complete -c kage -n "__fish_kage_using_subcommand key; and not __fish_seen_subcommand_from fetch list rotate backup restore retire help" -f -a "list" -d 'List the cluster\'s keys: fingerprint, created, state'
complete -c kage -n "__fish_kage_using_subcommand key; and not __fish_seen_subcommand_from fetch list rotate backup restore retire help" -f -a "rotate" -d 'Ask the controller to create a new sealing key now (needs `patch` on the kage-key-rotation ConfigMap in the controller namespace: admins only)'
complete -c kage -n "__fish_kage_using_subcommand key; and not __fish_seen_subcommand_from fetch list rotate backup restore retire help" -f -a "backup" -d 'Export every cluster key, encrypted to recipients or a passphrase (admins only)'
complete -c kage -n "__fish_kage_using_subcommand key; and not __fish_seen_subcommand_from fetch list rotate backup restore retire help" -f -a "restore" -d 'Put the keys of a backup back into the cluster; the controller picks them up live'
complete -c kage -n "__fish_kage_using_subcommand key; and not __fish_seen_subcommand_from fetch list rotate backup restore retire help" -f -a "retire" -d 'Stop using a key to unseal (after rotating and resealing)'
complete -c kage -n "__fish_kage_using_subcommand key; and not __fish_seen_subcommand_from fetch list rotate backup restore retire help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from fetch" -l pin -d 'Refuse any current key but this one (the whole `age1...` recipient: a short fingerprint could be matched by another key)' -r
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from fetch" -l save -d 'Write the recipient into this .kage.yaml: the rule without a path (added if missing), and every rule that names an older key of this cluster' -r -F
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from fetch" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from fetch" -l context -d 'Kubeconfig context to use' -r
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from fetch" -l controller-namespace -d 'Namespace of the kage controller' -r
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from fetch" -l controller-name -d 'Name of the kage controller (Service and Deployment)' -r
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from fetch" -l controller-url -d 'Reach the controller\'s HTTP API here instead of through the API server\'s service proxy' -r
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from fetch" -s h -l help -d 'Print help'
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from list" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from list" -l context -d 'Kubeconfig context to use' -r
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from list" -l controller-namespace -d 'Namespace of the kage controller' -r
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from list" -l controller-name -d 'Name of the kage controller (Service and Deployment)' -r
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from list" -l controller-url -d 'Reach the controller\'s HTTP API here instead of through the API server\'s service proxy' -r
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help'
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from rotate" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from rotate" -l context -d 'Kubeconfig context to use' -r
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from rotate" -l controller-namespace -d 'Namespace of the kage controller' -r
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from rotate" -l controller-name -d 'Name of the kage controller (Service and Deployment)' -r
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from rotate" -l controller-url -d 'Reach the controller\'s HTTP API here instead of through the API server\'s service proxy' -r
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from rotate" -s h -l help -d 'Print help'
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from backup" -s r -l recipient -d 'Encrypt the backup to this age recipient (repeatable)' -r
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from backup" -s o -l output -d 'Where to write the backup (atomically, mode 0600)' -r -F
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from backup" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from backup" -l context -d 'Kubeconfig context to use' -r
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from backup" -l controller-namespace -d 'Namespace of the kage controller' -r
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from backup" -l controller-name -d 'Name of the kage controller (Service and Deployment)' -r
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from backup" -l controller-url -d 'Reach the controller\'s HTTP API here instead of through the API server\'s service proxy' -r
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from backup" -l passphrase -d 'Encrypt the backup to the passphrase in $KAGE_PASSPHRASE instead'
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from backup" -s h -l help -d 'Print help'
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from restore" -s i -l identity -d 'Identity file that opens the backup (repeatable)' -r -F
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from restore" -l expect -d 'Restore only the keys with these fingerprints (repeatable); anyone holding the backup\'s public recipient can write a backup, so name the keys you expect' -r
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from restore" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from restore" -l context -d 'Kubeconfig context to use' -r
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from restore" -l controller-namespace -d 'Namespace of the kage controller' -r
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from restore" -l controller-name -d 'Name of the kage controller (Service and Deployment)' -r
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from restore" -l controller-url -d 'Reach the controller\'s HTTP API here instead of through the API server\'s service proxy' -r
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from restore" -l passphrase -d 'Open the backup with the passphrase in $KAGE_PASSPHRASE'
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from restore" -l yes -d 'Restore without asking (the keys are listed first either way)'
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from restore" -s h -l help -d 'Print help'
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from retire" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from retire" -l context -d 'Kubeconfig context to use' -r
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from retire" -l controller-namespace -d 'Namespace of the kage controller' -r
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from retire" -l controller-name -d 'Name of the kage controller (Service and Deployment)' -r
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from retire" -l controller-url -d 'Reach the controller\'s HTTP API here instead of through the API server\'s service proxy' -r
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from retire" -s h -l help -d 'Print help'
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "fetch" -d 'Read the controller\'s public keys through the kubeconfig and print the current one'
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the cluster\'s keys: fingerprint, created, state'
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "rotate" -d 'Ask the controller to create a new sealing key now (needs `patch` on the kage-key-rotation ConfigMap in the controller namespace: admins only)'
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "backup" -d 'Export every cluster key, encrypted to recipients or a passphrase (admins only)'
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "restore" -d 'Put the keys of a backup back into the cluster; the controller picks them up live'
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "retire" -d 'Stop using a key to unseal (after rotating and resealing)'
complete -c kage -n "__fish_kage_using_subcommand key; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kage -n "__fish_kage_using_subcommand migrate" -l key-file -d 'A file holding Sealed Secrets private keys: PEM, or the YAML of its key Secrets (repeatable). Without it, the active keys are read from the cluster' -r -F
complete -c kage -n "__fish_kage_using_subcommand migrate" -l sealed-secrets-namespace -d 'Namespace of the Sealed Secrets controller, where its keys are' -r
complete -c kage -n "__fish_kage_using_subcommand migrate" -s o -l output-dir -d 'Write the migrated files under DIR, at their paths relative to the PATH given' -r -F
complete -c kage -n "__fish_kage_using_subcommand migrate" -s r -l recipient -d 'Seal to this recipient (repeatable; default .kage.yaml, then the cluster\'s key)' -r
complete -c kage -n "__fish_kage_using_subcommand migrate" -l allow-metadata-prefix -d 'Label and annotation prefixes the controller allows templates to set besides unprefixed keys and `app.kubernetes.io/` (its --allow-template-metadata-prefix); repeatable' -r
complete -c kage -n "__fish_kage_using_subcommand migrate" -s n -l namespace -d 'Namespace for documents that name none (default: the kubeconfig context\'s)' -r
complete -c kage -n "__fish_kage_using_subcommand migrate" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kage -n "__fish_kage_using_subcommand migrate" -l context -d 'Kubeconfig context to use' -r
complete -c kage -n "__fish_kage_using_subcommand migrate" -l controller-namespace -d 'Namespace of the kage controller' -r
complete -c kage -n "__fish_kage_using_subcommand migrate" -l controller-name -d 'Name of the kage controller (Service and Deployment)' -r
complete -c kage -n "__fish_kage_using_subcommand migrate" -l controller-url -d 'Reach the controller\'s HTTP API here instead of through the API server\'s service proxy' -r
complete -c kage -n "__fish_kage_using_subcommand migrate" -l in-place -d 'Replace each Sealed Secrets document in its file (other documents are kept)'
complete -c kage -n "__fish_kage_using_subcommand migrate" -s h -l help -d 'Print help'
complete -c kage -n "__fish_kage_using_subcommand status" -s n -l namespace -d 'Namespace (default: the kubeconfig context\'s)' -r
complete -c kage -n "__fish_kage_using_subcommand status" -s o -l output -d 'Print JSON or YAML (with --watch: one JSON object per line, or one YAML document per change) instead of a table' -r -f -a "yaml\t'YAML documents'
json\t'JSON'"
complete -c kage -n "__fish_kage_using_subcommand status" -l kubeconfig -d 'Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)' -r -F
complete -c kage -n "__fish_kage_using_subcommand status" -l context -d 'Kubeconfig context to use' -r
complete -c kage -n "__fish_kage_using_subcommand status" -l controller-namespace -d 'Namespace of the kage controller' -r
complete -c kage -n "__fish_kage_using_subcommand status" -l controller-name -d 'Name of the kage controller (Service and Deployment)' -r
complete -c kage -n "__fish_kage_using_subcommand status" -l controller-url -d 'Reach the controller\'s HTTP API here instead of through the API server\'s service proxy' -r
complete -c kage -n "__fish_kage_using_subcommand status" -s A -l all-namespaces -d 'All namespaces'
complete -c kage -n "__fish_kage_using_subcommand status" -s w -l watch -d 'Keep watching: print each SealedSecret again whenever it changes (Ctrl-C to stop)'
complete -c kage -n "__fish_kage_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kage -n "__fish_kage_using_subcommand completions" -s h -l help -d 'Print help'
complete -c kage -n "__fish_kage_using_subcommand help; and not __fish_seen_subcommand_from keygen seal unseal inspect validate reseal key migrate status completions help" -f -a "keygen" -d 'Generate a new identity (private key) and print its recipient (public key)'
complete -c kage -n "__fish_kage_using_subcommand help; and not __fish_seen_subcommand_from keygen seal unseal inspect validate reseal key migrate status completions help" -f -a "seal" -d 'Seal a Secret (or literal values) into a SealedSecret'
complete -c kage -n "__fish_kage_using_subcommand help; and not __fish_seen_subcommand_from keygen seal unseal inspect validate reseal key migrate status completions help" -f -a "unseal" -d 'Recover the Secrets from SealedSecrets with private keys, offline'
complete -c kage -n "__fish_kage_using_subcommand help; and not __fish_seen_subcommand_from keygen seal unseal inspect validate reseal key migrate status completions help" -f -a "inspect" -d 'Show keys, scopes, bindings and key fingerprints of SealedSecrets; no key needed'
complete -c kage -n "__fish_kage_using_subcommand help; and not __fish_seen_subcommand_from keygen seal unseal inspect validate reseal key migrate status completions help" -f -a "validate" -d 'Check SealedSecret files offline (structure, bindings), or with --cluster whether the cluster can unseal them'
complete -c kage -n "__fish_kage_using_subcommand help; and not __fish_seen_subcommand_from keygen seal unseal inspect validate reseal key migrate status completions help" -f -a "reseal" -d 'Re-encrypt SealedSecret files to the cluster\'s current key, in place'
complete -c kage -n "__fish_kage_using_subcommand help; and not __fish_seen_subcommand_from keygen seal unseal inspect validate reseal key migrate status completions help" -f -a "key" -d 'Cluster keys: fetch the public key to seal to'
complete -c kage -n "__fish_kage_using_subcommand help; and not __fish_seen_subcommand_from keygen seal unseal inspect validate reseal key migrate status completions help" -f -a "migrate" -d 'Turn Bitnami Sealed Secrets files into kage SealedSecrets, opening each value with the Sealed Secrets keys and sealing it to the kage cluster key; nothing in clear on disk'
complete -c kage -n "__fish_kage_using_subcommand help; and not __fish_seen_subcommand_from keygen seal unseal inspect validate reseal key migrate status completions help" -f -a "status" -d 'List SealedSecrets and whether the controller has unsealed them'
complete -c kage -n "__fish_kage_using_subcommand help; and not __fish_seen_subcommand_from keygen seal unseal inspect validate reseal key migrate status completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c kage -n "__fish_kage_using_subcommand help; and not __fish_seen_subcommand_from keygen seal unseal inspect validate reseal key migrate status completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kage -n "__fish_kage_using_subcommand help; and __fish_seen_subcommand_from key" -f -a "fetch" -d 'Read the controller\'s public keys through the kubeconfig and print the current one'
complete -c kage -n "__fish_kage_using_subcommand help; and __fish_seen_subcommand_from key" -f -a "list" -d 'List the cluster\'s keys: fingerprint, created, state'
complete -c kage -n "__fish_kage_using_subcommand help; and __fish_seen_subcommand_from key" -f -a "rotate" -d 'Ask the controller to create a new sealing key now (needs `patch` on the kage-key-rotation ConfigMap in the controller namespace: admins only)'
complete -c kage -n "__fish_kage_using_subcommand help; and __fish_seen_subcommand_from key" -f -a "backup" -d 'Export every cluster key, encrypted to recipients or a passphrase (admins only)'
complete -c kage -n "__fish_kage_using_subcommand help; and __fish_seen_subcommand_from key" -f -a "restore" -d 'Put the keys of a backup back into the cluster; the controller picks them up live'
complete -c kage -n "__fish_kage_using_subcommand help; and __fish_seen_subcommand_from key" -f -a "retire" -d 'Stop using a key to unseal (after rotating and resealing)'
