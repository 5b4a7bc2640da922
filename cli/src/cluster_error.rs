//! One error for "the cluster cannot be used": every command that talks to the API server
//! reports the same cause the same way, with exit code 6 and a hint that fits the cause.

use std::path::PathBuf;

/// Why a command could not do what it needed in the cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No kubeconfig anywhere, and not running in a Pod.
    #[error("no kubeconfig: $KUBECONFIG is not set and ~/.kube/config does not exist")]
    NoKubeconfig,
    /// The kubeconfig could not be read or names no usable context.
    #[error("cannot use the kubeconfig{}: {cause}", .path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    BadKubeconfig {
        /// The file given with --kubeconfig, if one was.
        path: Option<PathBuf>,
        /// What is wrong, once.
        cause: String,
    },
    /// The API server did not answer.
    #[error("cannot reach the API server ({action}): {cause}")]
    Unreachable {
        /// What was being done.
        action: String,
        /// The innermost cause, once.
        cause: String,
    },
    /// The API server refused the credentials.
    #[error("the API server refused your credentials (401 Unauthorized) while {action}")]
    Unauthorized {
        /// What was being done.
        action: String,
    },
    /// RBAC forbids the request.
    #[error("forbidden: {action} needs `{verb}` on {resource}{} (403)", .namespace.as_ref().map(|n| format!(" in namespace {n}")).unwrap_or_default())]
    Forbidden {
        /// What was being done.
        action: String,
        /// The verb needed.
        verb: &'static str,
        /// The resource, in words (`services/proxy kage-controller`).
        resource: String,
        /// The namespace, if namespaced.
        namespace: Option<String>,
        /// The `kubectl auth can-i` command that checks it.
        can_i: String,
    },
    /// The controller's Service has no ready Pod behind it, or does not exist.
    #[error(
        "the kage controller {namespace}/{name} is not answering ({code} from the API server's service proxy): {message}"
    )]
    ControllerDown {
        /// The controller namespace.
        namespace: String,
        /// The controller's Service name.
        name: String,
        /// The HTTP status.
        code: u16,
        /// The API server's message.
        message: String,
    },
    /// Any other answer of the API server.
    #[error("the API server answered {code} while {action}: {message}")]
    Api {
        /// What was being done.
        action: String,
        /// The HTTP status.
        code: u16,
        /// Its message.
        message: String,
    },
}

/// One request to the API server, to name it in errors.
#[derive(Default)]
pub struct Request<'a> {
    /// What is being done, in words ("listing the key Secrets").
    pub action: &'a str,
    /// The verb RBAC checks.
    pub verb: &'static str,
    /// The resource, as RBAC names it (`secrets`, `sealedsecrets.kage.dev`).
    pub resource: &'a str,
    /// The subresource, if any (`proxy`).
    pub subresource: Option<&'a str>,
    /// The object's name, when the request names one.
    pub name: Option<&'a str>,
    /// The namespace, if namespaced.
    pub namespace: Option<&'a str>,
}

impl Request<'_> {
    /// The [`ClusterError`] for a failed request (a 404 is [`ClusterError::Api`]; a caller
    /// that knows what is missing checks [`is_not_found`] first and says so).
    pub fn error(&self, e: kube::Error) -> anyhow::Error {
        let action = self.action.to_owned();
        match e {
            kube::Error::Api(status) => match status.code {
                401 => ClusterError::Unauthorized { action }.into(),
                403 => ClusterError::Forbidden {
                    action,
                    verb: self.verb,
                    resource: format!(
                        "{}{}{}",
                        self.resource,
                        self.subresource
                            .map(|s| format!("/{s}"))
                            .unwrap_or_default(),
                        self.name.map(|n| format!(" {n}")).unwrap_or_default()
                    ),
                    namespace: self.namespace.map(str::to_owned),
                    can_i: format!(
                        "kubectl auth can-i {} {}{}{}{}",
                        self.verb,
                        self.resource,
                        self.name.map(|n| format!("/{n}")).unwrap_or_default(),
                        self.subresource
                            .map(|s| format!(" --subresource={s}"))
                            .unwrap_or_default(),
                        self.namespace
                            .map(|n| format!(" -n {n}"))
                            .unwrap_or_default()
                    ),
                }
                .into(),
                code => ClusterError::Api {
                    action,
                    code,
                    message: status.message,
                }
                .into(),
            },
            other => ClusterError::Unreachable {
                action,
                cause: innermost(&other),
            }
            .into(),
        }
    }
}

/// Whether `e` is the API server's 404 Not Found.
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(status) if status.code == 404)
}

/// The last cause of an error chain: the OS or TLS error, said once (the outer layers repeat
/// it in their own text).
pub fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

impl ClusterError {
    /// The next step, by cause.
    pub fn hint(&self) -> String {
        match self {
            ClusterError::NoKubeconfig => "point KUBECONFIG or --kubeconfig at a kubeconfig; offline, `kage seal -r`, `inspect`, `validate` and `unseal -i` need no cluster".to_owned(),
            ClusterError::BadKubeconfig { .. } => {
                "check the file with `kubectl config view`, and the context with --context".to_owned()
            }
            ClusterError::Unreachable { .. } => "the API server is down or out of reach (not a kage problem): check `kubectl cluster-info`, the VPN and the kubeconfig's server address".to_owned(),
            ClusterError::Unauthorized { .. } => {
                "your token or certificate expired or is wrong: log in again and refresh the kubeconfig".to_owned()
            }
            ClusterError::Forbidden { can_i, .. } => {
                format!("ask an admin for it; check with `{can_i}`")
            }
            ClusterError::ControllerDown { namespace, name, .. } => format!(
                "is it installed and running? `kubectl -n {namespace} get deploy,pods,endpointslices -l app.kubernetes.io/name=kage`; pass --controller-namespace/--controller-name if it lives elsewhere ({name})"
            ),
            ClusterError::Api { .. } => {
                "see the message; `kubectl get --raw /readyz?verbose` shows the API server's health".to_owned()
            }
        }
    }
}

/// A kubeconfig error from kube, as a [`ClusterError`]. A kubeconfig holds credentials, and
/// the file given may be something else altogether (an identity file): the parser's and the
/// decoders' messages quote the input, so they are replaced by what went wrong, in words.
pub fn kubeconfig_error(
    path: Option<&std::path::Path>,
    e: &kube::config::KubeconfigError,
) -> anyhow::Error {
    use kube::config::KubeconfigError as K;
    let cause = match e {
        K::Parse(_) => {
            "it is not a kubeconfig (YAML of kind Config; its content is not shown)".to_owned()
        }
        K::LoadCertificateAuthority(_) => {
            "its certificate authority cannot be loaded (content not shown)".to_owned()
        }
        K::LoadClientCertificate(_) => {
            "its client certificate cannot be loaded (content not shown)".to_owned()
        }
        K::LoadClientKey(_) => "its client key cannot be loaded (content not shown)".to_owned(),
        K::ParseCertificates(_) => {
            "a certificate in it is not valid PEM (content not shown)".to_owned()
        }
        other => innermost(other),
    };
    ClusterError::BadKubeconfig {
        path: path.map(std::path::Path::to_path_buf),
        cause,
    }
    .into()
}
