#compdef kage

autoload -U is-at-least

_kage() {
    typeset -A opt_args
    typeset -a _arguments_options
    local ret=1

    if is-at-least 5.2; then
        _arguments_options=(-s -S -C)
    else
        _arguments_options=(-s -C)
    fi

    local context curcontext="$curcontext" state line
    _arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
":: :_kage_commands" \
"*::: :->kage" \
&& ret=0
    case $state in
    (kage)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:kage-command-$line[1]:"
        case $line[1] in
            (keygen)
_arguments "${_arguments_options[@]}" : \
'-o+[Write the identity to FILE (mode 0600; never overwrites) instead of stdout]:FILE:_files' \
'--output=[Write the identity to FILE (mode 0600; never overwrites) instead of stdout]:FILE:_files' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(seal)
_arguments "${_arguments_options[@]}" : \
'-f+[Secret manifest to seal (YAML or JSON, several documents allowed); "-" is stdin. Read from stdin when no file and no --from-* flag is given]:FILE:_files' \
'--filename=[Secret manifest to seal (YAML or JSON, several documents allowed); "-" is stdin. Read from stdin when no file and no --from-* flag is given]:FILE:_files' \
'*--from-literal=[A value given on the command line, as KEY=VALUE (repeatable). A value on the command line shows in \`ps\` and shell history\: use KEY=- to read it from stdin instead (asked for, without echo, when stdin is a terminal)]:KEY=VALUE:_default' \
'*--from-file=[A value read from a file, as \[KEY=\]PATH; KEY defaults to the file name (repeatable)]:[KEY=]PATH:_default' \
'*--from-env-file=[Values read from an env file of KEY=VALUE lines (repeatable)]:PATH:_files' \
'--name=[Name of the SealedSecret (and of the Secret it creates)]:NAME:_default' \
'-n+[Namespace (default\: the input'\''s, then the kubeconfig context'\''s, then "default")]:NAMESPACE:_default' \
'--namespace=[Namespace (default\: the input'\''s, then the kubeconfig context'\''s, then "default")]:NAMESPACE:_default' \
'--type=[Secret type, for --from-* input (default Opaque)]:TYPE:_default' \
'--scope=[Where the values may be opened (default\: .kage.yaml'\''s, else strict)]:SCOPE:((strict\:"Namespace, name and key must match (default)"
namespace-wide\:"Namespace and key must match"
cluster-wide\:"Only the key must match"))' \
'*--allow-metadata-prefix=[Label and annotation prefixes the controller allows templates to set besides unprefixed keys and \`app.kubernetes.io/\` (its --allow-template-metadata-prefix); repeatable]:PREFIX:_default' \
'*-r+[Seal to this recipient (age1...; repeatable)]:RECIPIENT:_default' \
'*--recipient=[Seal to this recipient (age1...; repeatable)]:RECIPIENT:_default' \
'*-R+[Seal to every recipient listed in FILE, one per line (repeatable)]:FILE:_files' \
'*--recipients-file=[Seal to every recipient listed in FILE, one per line (repeatable)]:FILE:_files' \
'*--recovery=[Also seal to this offline recovery recipient (age1...; repeatable)]:RECIPIENT:_default' \
'(--merge-into)-w+[Write the SealedSecret to FILE atomically instead of stdout]:FILE:_files' \
'(--merge-into)--write=[Write the SealedSecret to FILE atomically instead of stdout]:FILE:_files' \
'--merge-into=[Update the SealedSecret in FILE in place\: reseal the keys given, keep every other value. Refused when the new values would lack a recipient every other value of the file has (a recovery key), unless --drop-recipient names it]:FILE:_files' \
'*--drop-recipient=[With --merge-into\: leave out on purpose this recipient (a fingerprint, as \`kage inspect\` shows it) that the file'\''s other values have; repeatable]:FINGERPRINT:_default' \
'(--raw)--template-file=[Take spec.template from FILE (YAML or JSON\: type, immutable, metadata, data, omit)\: its \`data\` composes values from the sealed ones (docs/templates.md). Checked before writing]:FILE:_files' \
'-o+[Output format]:FORMAT:((yaml\:"YAML documents"
json\:"JSON"))' \
'--output=[Output format]:FORMAT:((yaml\:"YAML documents"
json\:"JSON"))' \
'--kubeconfig=[Path to the kubeconfig file (default\: \$KUBECONFIG, then ~/.kube/config)]:FILE:_files' \
'--context=[Kubeconfig context to use]:NAME:_default' \
'--controller-namespace=[Namespace of the kage controller]:NS:_default' \
'--controller-name=[Name of the kage controller (Service and Deployment)]:NAME:_default' \
'--controller-url=[Reach the controller'\''s HTTP API here instead of through the API server'\''s service proxy]:URL:_default' \
'(--merge-into -f --filename)--raw[Print one sealed value only (for templates); takes exactly one --from-literal/--from-file]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
&& ret=0
;;
(unseal)
_arguments "${_arguments_options[@]}" : \
'*-i+[Identity file (AGE-SECRET-KEY-1... lines); repeatable. Default\: \$KAGE_IDENTITY_FILE (a path, as SOPS reads SOPS_AGE_KEY_FILE; a key itself in the environment is not read\: every child process, and /proc, would see it)]:FILE:_files' \
'*--identity=[Identity file (AGE-SECRET-KEY-1... lines); repeatable. Default\: \$KAGE_IDENTITY_FILE (a path, as SOPS reads SOPS_AGE_KEY_FILE; a key itself in the environment is not read\: every child process, and /proc, would see it)]:FILE:_files' \
'-f+[SealedSecret manifest; "-" or absent is stdin]:FILE:_files' \
'--filename=[SealedSecret manifest; "-" or absent is stdin]:FILE:_files' \
'-o+[Output format]:FORMAT:((yaml\:"YAML documents"
json\:"JSON"))' \
'--output=[Output format]:FORMAT:((yaml\:"YAML documents"
json\:"JSON"))' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
&& ret=0
;;
(inspect)
_arguments "${_arguments_options[@]}" : \
'-f+[SealedSecret manifest; "-" or absent is stdin]:FILE:_files' \
'--filename=[SealedSecret manifest; "-" or absent is stdin]:FILE:_files' \
'*--recovery=[Recovery recipients to look for (default\: the file'\''s .kage.yaml rule)]:RECIPIENT:_default' \
'-o+[Print JSON instead of text]:FORMAT:((yaml\:"YAML documents"
json\:"JSON"))' \
'--output=[Print JSON instead of text]:FORMAT:((yaml\:"YAML documents"
json\:"JSON"))' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
&& ret=0
;;
(validate)
_arguments "${_arguments_options[@]}" : \
'*--recovery=[Recovery recipients that count (default\: each file'\''s .kage.yaml rule)]:RECIPIENT:_default' \
'*--allow-metadata-prefix=[Label and annotation prefixes the controller allows templates to set besides unprefixed keys and \`app.kubernetes.io/\` (its --allow-template-metadata-prefix); repeatable]:PREFIX:_default' \
'*--exclude=[Leave out files whose path matches this glob (e.g. '\''charts/**'\''); repeatable]:GLOB:_default' \
'-o+[Print the report as JSON or YAML on stdout instead of text on stderr]:FORMAT:((yaml\:"YAML documents"
json\:"JSON"))' \
'--output=[Print the report as JSON or YAML on stdout instead of text on stderr]:FORMAT:((yaml\:"YAML documents"
json\:"JSON"))' \
'--kubeconfig=[Path to the kubeconfig file (default\: \$KUBECONFIG, then ~/.kube/config)]:FILE:_files' \
'--context=[Kubeconfig context to use]:NAME:_default' \
'--controller-namespace=[Namespace of the kage controller]:NS:_default' \
'--controller-name=[Name of the kage controller (Service and Deployment)]:NAME:_default' \
'--controller-url=[Reach the controller'\''s HTTP API here instead of through the API server'\''s service proxy]:URL:_default' \
'--cluster[Also ask the controller whether it can unseal each SealedSecret]' \
'--require-recovery[Fail on values without a recovery recipient (from .kage.yaml, or --recovery)]' \
'--allow-empty[Pass a PATH that holds no kage SealedSecret and no plaintext Secret (a pre-commit hook given only the changed files); by default it fails, so that a gate cannot pass by checking nothing]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'*::paths -- Files and directories (searched recursively for .yaml, .yml and .json, folders starting with "." left out); default ".":_files' \
&& ret=0
;;
(reseal)
_arguments "${_arguments_options[@]}" : \
'*-i+[Reseal offline with these identities instead of through the controller]:FILE:_files' \
'*--identity=[Reseal offline with these identities instead of through the controller]:FILE:_files' \
'*-r+[Offline\: seal to this recipient (repeatable; default .kage.yaml, then the cluster)]:RECIPIENT:_default' \
'*--recipient=[Offline\: seal to this recipient (repeatable; default .kage.yaml, then the cluster)]:RECIPIENT:_default' \
'*--drop-recipient=[Drop on purpose this recipient (a fingerprint, as \`kage inspect\` shows it) that is not a cluster key; without it a file whose values would lose one is left unchanged]:FINGERPRINT:_default' \
'--kubeconfig=[Path to the kubeconfig file (default\: \$KUBECONFIG, then ~/.kube/config)]:FILE:_files' \
'--context=[Kubeconfig context to use]:NAME:_default' \
'--controller-namespace=[Namespace of the kage controller]:NS:_default' \
'--controller-name=[Name of the kage controller (Service and Deployment)]:NAME:_default' \
'--controller-url=[Reach the controller'\''s HTTP API here instead of through the API server'\''s service proxy]:URL:_default' \
'--dry-run[Say what would change, file by file and value by value, and write nothing]' \
'-h[Print help]' \
'--help[Print help]' \
'*::paths -- Files and directories (searched recursively); default ".":_files' \
&& ret=0
;;
(key)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
":: :_kage__subcmd__key_commands" \
"*::: :->key" \
&& ret=0

    case $state in
    (key)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:kage-key-command-$line[1]:"
        case $line[1] in
            (fetch)
_arguments "${_arguments_options[@]}" : \
'--pin=[Refuse any current key but this one (the whole \`age1...\` recipient\: a short fingerprint could be matched by another key)]:RECIPIENT:_default' \
'--save=[Write the recipient into this .kage.yaml\: the rule without a path (added if missing), and every rule that names an older key of this cluster]::FILE:_files' \
'--kubeconfig=[Path to the kubeconfig file (default\: \$KUBECONFIG, then ~/.kube/config)]:FILE:_files' \
'--context=[Kubeconfig context to use]:NAME:_default' \
'--controller-namespace=[Namespace of the kage controller]:NS:_default' \
'--controller-name=[Name of the kage controller (Service and Deployment)]:NAME:_default' \
'--controller-url=[Reach the controller'\''s HTTP API here instead of through the API server'\''s service proxy]:URL:_default' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(list)
_arguments "${_arguments_options[@]}" : \
'--kubeconfig=[Path to the kubeconfig file (default\: \$KUBECONFIG, then ~/.kube/config)]:FILE:_files' \
'--context=[Kubeconfig context to use]:NAME:_default' \
'--controller-namespace=[Namespace of the kage controller]:NS:_default' \
'--controller-name=[Name of the kage controller (Service and Deployment)]:NAME:_default' \
'--controller-url=[Reach the controller'\''s HTTP API here instead of through the API server'\''s service proxy]:URL:_default' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(rotate)
_arguments "${_arguments_options[@]}" : \
'--kubeconfig=[Path to the kubeconfig file (default\: \$KUBECONFIG, then ~/.kube/config)]:FILE:_files' \
'--context=[Kubeconfig context to use]:NAME:_default' \
'--controller-namespace=[Namespace of the kage controller]:NS:_default' \
'--controller-name=[Name of the kage controller (Service and Deployment)]:NAME:_default' \
'--controller-url=[Reach the controller'\''s HTTP API here instead of through the API server'\''s service proxy]:URL:_default' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(backup)
_arguments "${_arguments_options[@]}" : \
'*-r+[Encrypt the backup to this age recipient (repeatable)]:RECIPIENT:_default' \
'*--recipient=[Encrypt the backup to this age recipient (repeatable)]:RECIPIENT:_default' \
'-o+[Where to write the backup (atomically, mode 0600)]:FILE:_files' \
'--output=[Where to write the backup (atomically, mode 0600)]:FILE:_files' \
'--kubeconfig=[Path to the kubeconfig file (default\: \$KUBECONFIG, then ~/.kube/config)]:FILE:_files' \
'--context=[Kubeconfig context to use]:NAME:_default' \
'--controller-namespace=[Namespace of the kage controller]:NS:_default' \
'--controller-name=[Name of the kage controller (Service and Deployment)]:NAME:_default' \
'--controller-url=[Reach the controller'\''s HTTP API here instead of through the API server'\''s service proxy]:URL:_default' \
'--passphrase[Encrypt the backup to the passphrase in \$KAGE_PASSPHRASE instead]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(restore)
_arguments "${_arguments_options[@]}" : \
'*-i+[Identity file that opens the backup (repeatable)]:FILE:_files' \
'*--identity=[Identity file that opens the backup (repeatable)]:FILE:_files' \
'*--expect=[Restore only the keys with these fingerprints (repeatable); anyone holding the backup'\''s public recipient can write a backup, so name the keys you expect]:FINGERPRINT:_default' \
'--kubeconfig=[Path to the kubeconfig file (default\: \$KUBECONFIG, then ~/.kube/config)]:FILE:_files' \
'--context=[Kubeconfig context to use]:NAME:_default' \
'--controller-namespace=[Namespace of the kage controller]:NS:_default' \
'--controller-name=[Name of the kage controller (Service and Deployment)]:NAME:_default' \
'--controller-url=[Reach the controller'\''s HTTP API here instead of through the API server'\''s service proxy]:URL:_default' \
'--passphrase[Open the backup with the passphrase in \$KAGE_PASSPHRASE]' \
'--yes[Restore without asking (the keys are listed first either way)]' \
'-h[Print help]' \
'--help[Print help]' \
':file -- The backup file:_files' \
&& ret=0
;;
(retire)
_arguments "${_arguments_options[@]}" : \
'--kubeconfig=[Path to the kubeconfig file (default\: \$KUBECONFIG, then ~/.kube/config)]:FILE:_files' \
'--context=[Kubeconfig context to use]:NAME:_default' \
'--controller-namespace=[Namespace of the kage controller]:NS:_default' \
'--controller-name=[Name of the kage controller (Service and Deployment)]:NAME:_default' \
'--controller-url=[Reach the controller'\''s HTTP API here instead of through the API server'\''s service proxy]:URL:_default' \
'-h[Print help]' \
'--help[Print help]' \
':fingerprint -- Fingerprint of the key to retire:_default' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_kage__subcmd__key__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:kage-key-help-command-$line[1]:"
        case $line[1] in
            (fetch)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(list)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(rotate)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(backup)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(restore)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(retire)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(migrate)
_arguments "${_arguments_options[@]}" : \
'*--key-file=[A file holding Sealed Secrets private keys\: PEM, or the YAML of its key Secrets (repeatable). Without it, the active keys are read from the cluster]:FILE:_files' \
'--sealed-secrets-namespace=[Namespace of the Sealed Secrets controller, where its keys are]:NS:_default' \
'-o+[Write the migrated files under DIR, at their paths relative to the PATH given]:DIR:_files' \
'--output-dir=[Write the migrated files under DIR, at their paths relative to the PATH given]:DIR:_files' \
'*-r+[Seal to this recipient (repeatable; default .kage.yaml, then the cluster'\''s key)]:RECIPIENT:_default' \
'*--recipient=[Seal to this recipient (repeatable; default .kage.yaml, then the cluster'\''s key)]:RECIPIENT:_default' \
'*--allow-metadata-prefix=[Label and annotation prefixes the controller allows templates to set besides unprefixed keys and \`app.kubernetes.io/\` (its --allow-template-metadata-prefix); repeatable]:PREFIX:_default' \
'-n+[Namespace for documents that name none (default\: the kubeconfig context'\''s)]:NAMESPACE:_default' \
'--namespace=[Namespace for documents that name none (default\: the kubeconfig context'\''s)]:NAMESPACE:_default' \
'--kubeconfig=[Path to the kubeconfig file (default\: \$KUBECONFIG, then ~/.kube/config)]:FILE:_files' \
'--context=[Kubeconfig context to use]:NAME:_default' \
'--controller-namespace=[Namespace of the kage controller]:NS:_default' \
'--controller-name=[Name of the kage controller (Service and Deployment)]:NAME:_default' \
'--controller-url=[Reach the controller'\''s HTTP API here instead of through the API server'\''s service proxy]:URL:_default' \
'(-o --output-dir)--in-place[Replace each Sealed Secrets document in its file (other documents are kept)]' \
'-h[Print help]' \
'--help[Print help]' \
'*::paths -- Sealed Secrets files and directories (searched recursively); default ".":_files' \
&& ret=0
;;
(status)
_arguments "${_arguments_options[@]}" : \
'-n+[Namespace (default\: the kubeconfig context'\''s)]:NAMESPACE:_default' \
'--namespace=[Namespace (default\: the kubeconfig context'\''s)]:NAMESPACE:_default' \
'-o+[Print JSON or YAML (with --watch\: one JSON object per line, or one YAML document per change) instead of a table]:FORMAT:((yaml\:"YAML documents"
json\:"JSON"))' \
'--output=[Print JSON or YAML (with --watch\: one JSON object per line, or one YAML document per change) instead of a table]:FORMAT:((yaml\:"YAML documents"
json\:"JSON"))' \
'--kubeconfig=[Path to the kubeconfig file (default\: \$KUBECONFIG, then ~/.kube/config)]:FILE:_files' \
'--context=[Kubeconfig context to use]:NAME:_default' \
'--controller-namespace=[Namespace of the kage controller]:NS:_default' \
'--controller-name=[Name of the kage controller (Service and Deployment)]:NAME:_default' \
'--controller-url=[Reach the controller'\''s HTTP API here instead of through the API server'\''s service proxy]:URL:_default' \
'-A[All namespaces]' \
'--all-namespaces[All namespaces]' \
'-w[Keep watching\: print each SealedSecret again whenever it changes (Ctrl-C to stop)]' \
'--watch[Keep watching\: print each SealedSecret again whenever it changes (Ctrl-C to stop)]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
&& ret=0
;;
(completions)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
':shell -- The shell:(bash elvish fish powershell zsh)' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_kage__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:kage-help-command-$line[1]:"
        case $line[1] in
            (keygen)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(seal)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(unseal)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(inspect)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(validate)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(reseal)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(key)
_arguments "${_arguments_options[@]}" : \
":: :_kage__subcmd__help__subcmd__key_commands" \
"*::: :->key" \
&& ret=0

    case $state in
    (key)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:kage-help-key-command-$line[1]:"
        case $line[1] in
            (fetch)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(list)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(rotate)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(backup)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(restore)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(retire)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(migrate)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(status)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(completions)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
}

(( $+functions[_kage_commands] )) ||
_kage_commands() {
    local commands; commands=(
'keygen:Generate a new identity (private key) and print its recipient (public key)' \
'seal:Seal a Secret (or literal values) into a SealedSecret' \
'unseal:Recover the Secrets from SealedSecrets with private keys, offline' \
'inspect:Show keys, scopes, bindings and key fingerprints of SealedSecrets; no key needed' \
'validate:Check SealedSecret files offline (structure, bindings), or with --cluster whether the cluster can unseal them' \
'reseal:Re-encrypt SealedSecret files to the cluster'\''s current key, in place' \
'key:Cluster keys\: fetch the public key to seal to' \
'migrate:Turn Bitnami Sealed Secrets files into kage SealedSecrets, opening each value with the Sealed Secrets keys and sealing it to the kage cluster key; nothing in clear on disk' \
'status:List SealedSecrets and whether the controller has unsealed them' \
'completions:Print a shell completion script' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'kage commands' commands "$@"
}
(( $+functions[_kage__subcmd__completions_commands] )) ||
_kage__subcmd__completions_commands() {
    local commands; commands=()
    _describe -t commands 'kage completions commands' commands "$@"
}
(( $+functions[_kage__subcmd__help_commands] )) ||
_kage__subcmd__help_commands() {
    local commands; commands=(
'keygen:Generate a new identity (private key) and print its recipient (public key)' \
'seal:Seal a Secret (or literal values) into a SealedSecret' \
'unseal:Recover the Secrets from SealedSecrets with private keys, offline' \
'inspect:Show keys, scopes, bindings and key fingerprints of SealedSecrets; no key needed' \
'validate:Check SealedSecret files offline (structure, bindings), or with --cluster whether the cluster can unseal them' \
'reseal:Re-encrypt SealedSecret files to the cluster'\''s current key, in place' \
'key:Cluster keys\: fetch the public key to seal to' \
'migrate:Turn Bitnami Sealed Secrets files into kage SealedSecrets, opening each value with the Sealed Secrets keys and sealing it to the kage cluster key; nothing in clear on disk' \
'status:List SealedSecrets and whether the controller has unsealed them' \
'completions:Print a shell completion script' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'kage help commands' commands "$@"
}
(( $+functions[_kage__subcmd__help__subcmd__completions_commands] )) ||
_kage__subcmd__help__subcmd__completions_commands() {
    local commands; commands=()
    _describe -t commands 'kage help completions commands' commands "$@"
}
(( $+functions[_kage__subcmd__help__subcmd__help_commands] )) ||
_kage__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'kage help help commands' commands "$@"
}
(( $+functions[_kage__subcmd__help__subcmd__inspect_commands] )) ||
_kage__subcmd__help__subcmd__inspect_commands() {
    local commands; commands=()
    _describe -t commands 'kage help inspect commands' commands "$@"
}
(( $+functions[_kage__subcmd__help__subcmd__key_commands] )) ||
_kage__subcmd__help__subcmd__key_commands() {
    local commands; commands=(
'fetch:Read the controller'\''s public keys through the kubeconfig and print the current one' \
'list:List the cluster'\''s keys\: fingerprint, created, state' \
'rotate:Ask the controller to create a new sealing key now (needs \`patch\` on the kage-key-rotation ConfigMap in the controller namespace\: admins only)' \
'backup:Export every cluster key, encrypted to recipients or a passphrase (admins only)' \
'restore:Put the keys of a backup back into the cluster; the controller picks them up live' \
'retire:Stop using a key to unseal (after rotating and resealing)' \
    )
    _describe -t commands 'kage help key commands' commands "$@"
}
(( $+functions[_kage__subcmd__help__subcmd__key__subcmd__backup_commands] )) ||
_kage__subcmd__help__subcmd__key__subcmd__backup_commands() {
    local commands; commands=()
    _describe -t commands 'kage help key backup commands' commands "$@"
}
(( $+functions[_kage__subcmd__help__subcmd__key__subcmd__fetch_commands] )) ||
_kage__subcmd__help__subcmd__key__subcmd__fetch_commands() {
    local commands; commands=()
    _describe -t commands 'kage help key fetch commands' commands "$@"
}
(( $+functions[_kage__subcmd__help__subcmd__key__subcmd__list_commands] )) ||
_kage__subcmd__help__subcmd__key__subcmd__list_commands() {
    local commands; commands=()
    _describe -t commands 'kage help key list commands' commands "$@"
}
(( $+functions[_kage__subcmd__help__subcmd__key__subcmd__restore_commands] )) ||
_kage__subcmd__help__subcmd__key__subcmd__restore_commands() {
    local commands; commands=()
    _describe -t commands 'kage help key restore commands' commands "$@"
}
(( $+functions[_kage__subcmd__help__subcmd__key__subcmd__retire_commands] )) ||
_kage__subcmd__help__subcmd__key__subcmd__retire_commands() {
    local commands; commands=()
    _describe -t commands 'kage help key retire commands' commands "$@"
}
(( $+functions[_kage__subcmd__help__subcmd__key__subcmd__rotate_commands] )) ||
_kage__subcmd__help__subcmd__key__subcmd__rotate_commands() {
    local commands; commands=()
    _describe -t commands 'kage help key rotate commands' commands "$@"
}
(( $+functions[_kage__subcmd__help__subcmd__keygen_commands] )) ||
_kage__subcmd__help__subcmd__keygen_commands() {
    local commands; commands=()
    _describe -t commands 'kage help keygen commands' commands "$@"
}
(( $+functions[_kage__subcmd__help__subcmd__migrate_commands] )) ||
_kage__subcmd__help__subcmd__migrate_commands() {
    local commands; commands=()
    _describe -t commands 'kage help migrate commands' commands "$@"
}
(( $+functions[_kage__subcmd__help__subcmd__reseal_commands] )) ||
_kage__subcmd__help__subcmd__reseal_commands() {
    local commands; commands=()
    _describe -t commands 'kage help reseal commands' commands "$@"
}
(( $+functions[_kage__subcmd__help__subcmd__seal_commands] )) ||
_kage__subcmd__help__subcmd__seal_commands() {
    local commands; commands=()
    _describe -t commands 'kage help seal commands' commands "$@"
}
(( $+functions[_kage__subcmd__help__subcmd__status_commands] )) ||
_kage__subcmd__help__subcmd__status_commands() {
    local commands; commands=()
    _describe -t commands 'kage help status commands' commands "$@"
}
(( $+functions[_kage__subcmd__help__subcmd__unseal_commands] )) ||
_kage__subcmd__help__subcmd__unseal_commands() {
    local commands; commands=()
    _describe -t commands 'kage help unseal commands' commands "$@"
}
(( $+functions[_kage__subcmd__help__subcmd__validate_commands] )) ||
_kage__subcmd__help__subcmd__validate_commands() {
    local commands; commands=()
    _describe -t commands 'kage help validate commands' commands "$@"
}
(( $+functions[_kage__subcmd__inspect_commands] )) ||
_kage__subcmd__inspect_commands() {
    local commands; commands=()
    _describe -t commands 'kage inspect commands' commands "$@"
}
(( $+functions[_kage__subcmd__key_commands] )) ||
_kage__subcmd__key_commands() {
    local commands; commands=(
'fetch:Read the controller'\''s public keys through the kubeconfig and print the current one' \
'list:List the cluster'\''s keys\: fingerprint, created, state' \
'rotate:Ask the controller to create a new sealing key now (needs \`patch\` on the kage-key-rotation ConfigMap in the controller namespace\: admins only)' \
'backup:Export every cluster key, encrypted to recipients or a passphrase (admins only)' \
'restore:Put the keys of a backup back into the cluster; the controller picks them up live' \
'retire:Stop using a key to unseal (after rotating and resealing)' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'kage key commands' commands "$@"
}
(( $+functions[_kage__subcmd__key__subcmd__backup_commands] )) ||
_kage__subcmd__key__subcmd__backup_commands() {
    local commands; commands=()
    _describe -t commands 'kage key backup commands' commands "$@"
}
(( $+functions[_kage__subcmd__key__subcmd__fetch_commands] )) ||
_kage__subcmd__key__subcmd__fetch_commands() {
    local commands; commands=()
    _describe -t commands 'kage key fetch commands' commands "$@"
}
(( $+functions[_kage__subcmd__key__subcmd__help_commands] )) ||
_kage__subcmd__key__subcmd__help_commands() {
    local commands; commands=(
'fetch:Read the controller'\''s public keys through the kubeconfig and print the current one' \
'list:List the cluster'\''s keys\: fingerprint, created, state' \
'rotate:Ask the controller to create a new sealing key now (needs \`patch\` on the kage-key-rotation ConfigMap in the controller namespace\: admins only)' \
'backup:Export every cluster key, encrypted to recipients or a passphrase (admins only)' \
'restore:Put the keys of a backup back into the cluster; the controller picks them up live' \
'retire:Stop using a key to unseal (after rotating and resealing)' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'kage key help commands' commands "$@"
}
(( $+functions[_kage__subcmd__key__subcmd__help__subcmd__backup_commands] )) ||
_kage__subcmd__key__subcmd__help__subcmd__backup_commands() {
    local commands; commands=()
    _describe -t commands 'kage key help backup commands' commands "$@"
}
(( $+functions[_kage__subcmd__key__subcmd__help__subcmd__fetch_commands] )) ||
_kage__subcmd__key__subcmd__help__subcmd__fetch_commands() {
    local commands; commands=()
    _describe -t commands 'kage key help fetch commands' commands "$@"
}
(( $+functions[_kage__subcmd__key__subcmd__help__subcmd__help_commands] )) ||
_kage__subcmd__key__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'kage key help help commands' commands "$@"
}
(( $+functions[_kage__subcmd__key__subcmd__help__subcmd__list_commands] )) ||
_kage__subcmd__key__subcmd__help__subcmd__list_commands() {
    local commands; commands=()
    _describe -t commands 'kage key help list commands' commands "$@"
}
(( $+functions[_kage__subcmd__key__subcmd__help__subcmd__restore_commands] )) ||
_kage__subcmd__key__subcmd__help__subcmd__restore_commands() {
    local commands; commands=()
    _describe -t commands 'kage key help restore commands' commands "$@"
}
(( $+functions[_kage__subcmd__key__subcmd__help__subcmd__retire_commands] )) ||
_kage__subcmd__key__subcmd__help__subcmd__retire_commands() {
    local commands; commands=()
    _describe -t commands 'kage key help retire commands' commands "$@"
}
(( $+functions[_kage__subcmd__key__subcmd__help__subcmd__rotate_commands] )) ||
_kage__subcmd__key__subcmd__help__subcmd__rotate_commands() {
    local commands; commands=()
    _describe -t commands 'kage key help rotate commands' commands "$@"
}
(( $+functions[_kage__subcmd__key__subcmd__list_commands] )) ||
_kage__subcmd__key__subcmd__list_commands() {
    local commands; commands=()
    _describe -t commands 'kage key list commands' commands "$@"
}
(( $+functions[_kage__subcmd__key__subcmd__restore_commands] )) ||
_kage__subcmd__key__subcmd__restore_commands() {
    local commands; commands=()
    _describe -t commands 'kage key restore commands' commands "$@"
}
(( $+functions[_kage__subcmd__key__subcmd__retire_commands] )) ||
_kage__subcmd__key__subcmd__retire_commands() {
    local commands; commands=()
    _describe -t commands 'kage key retire commands' commands "$@"
}
(( $+functions[_kage__subcmd__key__subcmd__rotate_commands] )) ||
_kage__subcmd__key__subcmd__rotate_commands() {
    local commands; commands=()
    _describe -t commands 'kage key rotate commands' commands "$@"
}
(( $+functions[_kage__subcmd__keygen_commands] )) ||
_kage__subcmd__keygen_commands() {
    local commands; commands=()
    _describe -t commands 'kage keygen commands' commands "$@"
}
(( $+functions[_kage__subcmd__migrate_commands] )) ||
_kage__subcmd__migrate_commands() {
    local commands; commands=()
    _describe -t commands 'kage migrate commands' commands "$@"
}
(( $+functions[_kage__subcmd__reseal_commands] )) ||
_kage__subcmd__reseal_commands() {
    local commands; commands=()
    _describe -t commands 'kage reseal commands' commands "$@"
}
(( $+functions[_kage__subcmd__seal_commands] )) ||
_kage__subcmd__seal_commands() {
    local commands; commands=()
    _describe -t commands 'kage seal commands' commands "$@"
}
(( $+functions[_kage__subcmd__status_commands] )) ||
_kage__subcmd__status_commands() {
    local commands; commands=()
    _describe -t commands 'kage status commands' commands "$@"
}
(( $+functions[_kage__subcmd__unseal_commands] )) ||
_kage__subcmd__unseal_commands() {
    local commands; commands=()
    _describe -t commands 'kage unseal commands' commands "$@"
}
(( $+functions[_kage__subcmd__validate_commands] )) ||
_kage__subcmd__validate_commands() {
    local commands; commands=()
    _describe -t commands 'kage validate commands' commands "$@"
}

if [ "$funcstack[1]" = "_kage" ]; then
    _kage "$@"
else
    compdef _kage kage
fi
