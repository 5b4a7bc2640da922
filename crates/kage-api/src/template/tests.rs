//! The template language: checks, bounds and rendering.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kage_core::Plaintext;

use super::functions::*;
use super::*;
use crate::crd::SealedSecret;
use crate::crd::{SealedSecretSpec, SecretTemplate};
use crate::limits::*;
use proptest::prelude::*;

/// A SealedSecret with sealed keys of the given sealed lengths and these templates.
fn object(sealed: &[(&str, usize)], data: &[(&str, &str)], omit: &[&str]) -> SealedSecret {
    SealedSecret::new(
        "app",
        SealedSecretSpec {
            encrypted_data: sealed
                .iter()
                .map(|(k, n)| ((*k).to_owned(), "A".repeat(*n)))
                .collect(),
            template: Some(SecretTemplate {
                data: data
                    .iter()
                    .map(|(k, t)| ((*k).to_owned(), (*t).to_owned()))
                    .collect(),
                omit: omit.iter().map(|k| (*k).to_owned()).collect(),
                ..SecretTemplate::default()
            }),
        },
    )
}

fn values(pairs: &[(&str, &[u8])]) -> BTreeMap<String, Plaintext> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Plaintext::from(*v)))
        .collect()
}

fn render_one(template: &str, pairs: &[(&str, &[u8])]) -> Vec<u8> {
    let sealed: Vec<(&str, usize)> = pairs.iter().map(|(k, _)| (*k, 400)).collect();
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| *k).collect();
    let templates = Templates::check(&object(&sealed, &[("out", template)], &keys)).unwrap();
    templates.render(values(pairs))["out"].as_bytes().to_vec()
}

fn refusal(sealed: &[(&str, usize)], data: &[(&str, &str)], omit: &[&str]) -> String {
    Templates::check(&object(sealed, data, omit))
        .unwrap_err()
        .to_string()
}

#[test]
fn a_database_url_a_config_file_and_a_docker_config_render_to_exact_bytes() {
    let url = render_one(
        "postgres://{{ user | urlencode }}:{{ values[\"db-password\"] | urlencode }}@db:5432/app",
        &[("user", b"app"), ("db-password", b"p@ss/w:rd %")],
    );
    assert_eq!(url, b"postgres://app:p%40ss%2Fw%3Ard%20%25@db:5432/app");

    let config = render_one(
        "token: {{ token | yaml }}\ncert: |\n  {{ cert | indent(2) }}\n",
        &[
            ("token", b"a\"b\n"),
            ("cert", b"-----BEGIN-----\nAAA\n-----END-----\n"),
        ],
    );
    assert_eq!(
        String::from_utf8(config).unwrap(),
        "token: \"a\\\"b\\n\"\ncert: |\n  -----BEGIN-----\n  AAA\n  -----END-----\n\n"
    );

    let docker = render_one(
        "{{ dockerconfigjson(\"registry.example.com\", user, password) }}",
        &[("user", b"robot"), ("password", b"s3cr\"et")],
    );
    let parsed: serde_json::Value = serde_json::from_slice(&docker).unwrap();
    let entry = &parsed["auths"]["registry.example.com"];
    assert_eq!(entry["username"], "robot");
    assert_eq!(entry["password"], "s3cr\"et");
    assert_eq!(entry["auth"], STANDARD.encode("robot:s3cr\"et"));
}

#[test]
fn omitted_parts_leave_the_secret_and_a_template_may_replace_an_omitted_key() {
    let templates = Templates::check(&object(
        &[("user", 200), ("password", 200)],
        &[("password", "{{ user }}:{{ password }}")],
        &["user", "password"],
    ))
    .unwrap();
    let data = templates.render(values(&[("user", b"u"), ("password", b"p")]));
    let keys: Vec<&String> = data.keys().collect();
    assert_eq!(keys, ["password"]);
    assert_eq!(data["password"].as_bytes(), b"u:p");
    let uses = templates.uses();
    assert_eq!(
        uses["password"].iter().copied().collect::<Vec<_>>(),
        ["password", "user"]
    );
}

#[test]
fn what_could_branch_on_a_value_is_refused_before_anything_is_opened() {
    let s = [("password", 200)];
    for template in [
        "{% if password %}x{% endif %}",
        "{% for c in password %}{{ c }}{% endfor %}",
        "{% set x = password %}{{ x }}",
        "{{ 'a' if password == 'b' else 'c' }}",
        "{{ password == 'hunter2' }}",
        "{{ password is defined }}",
        "{{ password[0] }}",
        "{{ password[1:3] }}",
        "{{ password.upper() }}",
        "{{ password | length }}",
        "{{ password + 'x' }}",
        "{{ indent(password, password) }}",
        "{{ [password] }}",
    ] {
        let message = refusal(&s, &[("out", template)], &[]);
        assert!(
            message.starts_with("spec.template.data.out: line 1: "),
            "{template}: {message}"
        );
    }
    assert!(
        refusal(&s, &[("out", "{{ pasword }}")], &[])
            .contains("unknown value \"pasword\": this SealedSecret seals password")
    );
    assert!(
        refusal(&s, &[("out", "{{ password | nosuch }}")], &[])
            .contains("unknown function \"nosuch\"")
    );
    assert!(refusal(&s, &[("out", "{{ password")], &[]).contains("line 1: "));
    assert!(
        refusal(
            &s,
            &[("out", "a\n{{ b64encode(password, password) }}")],
            &[]
        )
        .contains("line 2: b64encode takes 1 argument, found 2")
    );
}

#[test]
fn names_types_and_collisions_are_checked() {
    let s = [("password", 200), ("user", 200)];
    assert_eq!(
        Templates::check(&object(&s, &[("password", "{{ user }}")], &[])).unwrap_err(),
        TemplateError::Collision("password".into())
    );
    assert_eq!(
        Templates::check(&object(&s, &[], &["nope"])).unwrap_err(),
        TemplateError::UnknownOmit("nope".into())
    );
    assert!(refusal(&s, &[("bad/key", "x")], &[]).contains("not a valid data key"));
    let mut typed = object(&s, &[("token-id", "{{ user }}")], &[]);
    typed.spec.template.as_mut().unwrap().type_ = Some("bootstrap.kubernetes.io/token".into());
    assert_eq!(
        Templates::check(&typed).unwrap_err(),
        TemplateError::TypeNotTemplatable("bootstrap.kubernetes.io/token".into())
    );
    let mut docker = object(&s, &[(".dockerconfigjson", "{{ password }}")], &[]);
    docker.spec.template.as_mut().unwrap().type_ = Some("kubernetes.io/dockerconfigjson".into());
    assert!(
        Templates::check(&docker)
            .unwrap_err()
            .to_string()
            .contains("parses .dockerconfigjson as JSON")
    );
    docker.spec.template.as_mut().unwrap().data.insert(
        ".dockerconfigjson".into(),
        "{{ dockerconfigjson('r.example', user, password) }}".into(),
    );
    assert!(Templates::check(&docker).is_ok());
}

#[test]
fn every_limit_is_refused_with_its_name() {
    let s = [("v", 100)];
    let many: Vec<(String, String)> = (0..=MAX_TEMPLATED_KEYS)
        .map(|i| (format!("k{i}"), "x".to_owned()))
        .collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        Templates::check(&object(&s, &many, &[])).unwrap_err(),
        TemplateError::TooManyTemplates(MAX_TEMPLATED_KEYS + 1)
    );
    let long = "x".repeat(MAX_TEMPLATE_BYTES + 1);
    assert!(
        refusal(&s, &[("o", &long)], &[])
            .contains(&format!("more than the limit of {MAX_TEMPLATE_BYTES}"))
    );
    assert!(Templates::check(&object(&s, &[("o", &long[1..])], &[])).is_ok());

    let exprs = vec!["{{ v }}"; MAX_TEMPLATE_EXPRESSIONS + 1].concat();
    assert!(
        refusal(&[("v", 1)], &[("o", &exprs)], &[])
            .contains(&format!("more than {MAX_TEMPLATE_EXPRESSIONS} expressions"))
    );
    let deep = format!("{{{{ v{} }}}}", " | json".repeat(MAX_TEMPLATE_DEPTH + 1));
    assert!(
        refusal(&[("v", 1)], &[("o", &deep)], &[])
            .contains(&format!("nested deeper than {MAX_TEMPLATE_DEPTH}"))
    );
    let ok_deep = format!("{{{{ v{} }}}}", " | b64decode".repeat(MAX_TEMPLATE_DEPTH));
    assert!(Templates::check(&object(&[("v", 1)], &[("o", &ok_deep)], &[])).is_ok());

    assert!(
        refusal(
            &s,
            &[("o", &format!("{{{{ v | indent({}) }}}}", MAX_INDENT + 1))],
            &[]
        )
        .contains("at most 32")
    );

    // A value that does not parse is bounded by its sealed form: 250 000 base64 characters
    // hold at most 187 500 bytes.
    let big = [("v", 250_000)];
    assert!(Templates::check(&object(&big, &[("o", "{{ v }}")], &["v"])).is_ok());
    assert!(
        refusal(&big, &[("o", "{{ v | urlencode }}")], &["v"]).contains(&format!(
            "more than the limit of {MAX_TEMPLATE_OUTPUT_BYTES}"
        ))
    );
    assert_eq!(
        Templates::check(&object(
            &big,
            &[
                ("a", "{{ v }}"),
                ("b", "{{ v }}"),
                ("c", "{{ v }}"),
                ("d", "{{ v }}"),
                ("e", "{{ v }}")
            ],
            &[]
        ))
        .unwrap_err(),
        TemplateError::SecretTooLarge(187_500 * 6)
    );
}

#[test]
fn the_bound_uses_the_exact_length_of_each_value_and_nothing_else() {
    use kage_core::{Identity, Location, Scope, seal};
    let id = Identity::generate();
    let sealed_with = |value: &[u8]| {
        let binding =
            kage_core::Binding::new(Scope::Strict, &Location::new("ns", "app", "v")).unwrap();
        let text = seal(value, &binding, std::slice::from_ref(id.recipient()))
            .unwrap()
            .to_base64();
        let mut o = object(&[], &[("o", "{{ v | urlencode }}")], &["v"]);
        o.spec.encrypted_data.insert("v".into(), text);
        Templates::check(&o).map(|_| ())
    };
    let edge = MAX_TEMPLATE_OUTPUT_BYTES / 3;
    // Two values of one length, one with nothing to escape and one with everything: the
    // same verdict, decided by the length alone.
    assert!(sealed_with(&vec![b'a'; edge]).is_ok());
    assert!(sealed_with(&vec![b'%'; edge]).is_ok());
    assert!(sealed_with(&vec![b'a'; edge + 1]).is_err());
    assert!(sealed_with(&vec![b'%'; edge + 1]).is_err());
}

#[test]
fn each_bound_holds_for_the_worst_input_of_its_length() {
    let worst: &[(Function, &[&[u8]])] = &[
        (Function::B64Encode, &[b"\xff\xff\xff\xff"]),
        (Function::Json, &[b"\x01\x02\x03"]),
        (Function::Yaml, &[b"\x01\x02\x03"]),
        (Function::UrlEncode, &[b"%%%%"]),
        (Function::Indent(1), &[b"\na\na\na"]),
        (
            Function::DockerConfigJson,
            &[
                b"\x01\x01\x01",
                b"\x01\x01\x01\x01",
                b"\x01\x01\x01\x01\x01",
            ],
        ),
    ];
    for (function, args) in worst {
        let args: Vec<Plaintext> = args.iter().map(|a| Plaintext::from(*a)).collect();
        let mut out = Vec::new();
        function.apply(&args, &mut out);
        let lengths: Vec<usize> = args.iter().map(Plaintext::len).collect();
        assert!(
            out.len() <= function.bound(&lengths),
            "{function:?}: {} > {}",
            out.len(),
            function.bound(&lengths)
        );
        // And no looser than it must be (indent's bound assumes every byte a line).
        if !matches!(function, Function::Indent(_)) {
            assert_eq!(out.len(), function.bound(&lengths), "{function:?}");
        }
    }
}

/// The check with these value lengths (as a sealed value's public length gives them).
fn check_lengths(
    sealed: &[(&str, usize)],
    data: &[(&str, &str)],
    omit: &[&str],
) -> Result<Templates, TemplateError> {
    let lengths = sealed.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect();
    Templates::check_with_lengths(&object(sealed, data, omit), || lengths)
}

#[test]
fn each_limit_admits_exactly_its_value() {
    let at_limit: Vec<(String, String)> = (0..MAX_TEMPLATED_KEYS)
        .map(|i| (format!("k{i}"), "x".to_owned()))
        .collect();
    let at_limit: Vec<(&str, &str)> = at_limit
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert!(check_lengths(&[("v", 1)], &at_limit, &[]).is_ok());

    let output = [("v", MAX_TEMPLATE_OUTPUT_BYTES)];
    assert!(check_lengths(&output, &[("o", "{{ v }}")], &["v"]).is_ok());
    assert!(check_lengths(&output, &[("o", "{{ v }}x")], &["v"]).is_err());

    let (a, b) = (MAX_SECRET_DATA_BYTES - 100, 100);
    assert!(check_lengths(&[("a", a), ("b", b)], &[("o", "{{ b }}")], &["b"]).is_ok());
    assert_eq!(
        check_lengths(&[("a", a), ("b", b)], &[("o", "{{ b }}x")], &["b"]).unwrap_err(),
        TemplateError::SecretTooLarge(MAX_SECRET_DATA_BYTES + 1)
    );
    // An omitted value, and a sealed value a template replaces, are not in the Secret.
    assert!(
        check_lengths(
            &[("big", MAX_SECRET_DATA_BYTES), ("small", 1)],
            &[("o", "{{ small }}")],
            &["big"]
        )
        .is_ok()
    );
    assert!(
        check_lengths(
            &[("big", MAX_SECRET_DATA_BYTES), ("small", 1)],
            &[("big", "{{ small }}")],
            &["big"]
        )
        .is_ok()
    );
}

#[test]
fn only_the_key_the_type_parses_must_be_a_docker_config() {
    let s = [("password", 200), ("user", 200)];
    let typed = |type_: &str, key: &str| {
        let mut o = object(&s, &[(key, "{{ user }}")], &[]);
        o.spec.template.as_mut().unwrap().type_ = Some(type_.into());
        Templates::check(&o)
    };
    assert!(typed("Opaque", ".dockerconfigjson").is_ok());
    assert!(typed("kubernetes.io/dockerconfigjson", "note").is_ok());
    assert!(typed("kubernetes.io/dockerconfigjson", ".dockerconfigjson").is_err());
}

#[test]
fn the_values_read_already_are_checked_like_the_sealed_ones() {
    use kage_core::{Identity, Location, Scope, seal};
    let id = Identity::generate();
    let binding = kage_core::Binding::new(Scope::Strict, &Location::new("ns", "app", "v")).unwrap();
    let value = seal(b"abc", &binding, std::slice::from_ref(id.recipient())).unwrap();
    let mut o = object(&[], &[("o", "{{ nosuch }}")], &[]);
    o.spec.encrypted_data.insert("v".into(), value.to_base64());
    let values = [("v".to_owned(), value)];
    assert!(Templates::check_values(&o, &values).is_err());
    o.spec.template.as_mut().unwrap().data =
        [("o".to_owned(), "{{ v | urlencode }}".to_owned())].into();
    let templates = Templates::check_values(&o, &values).unwrap();
    assert_eq!(
        templates.uses()["o"].iter().copied().collect::<Vec<_>>(),
        ["v"]
    );
}

#[test]
fn emptiness_omissions_and_whether_a_template_renders() {
    assert!(Templates::default().is_empty());
    let omit_only = Templates::check(&object(&[("a", 200), ("b", 200)], &[], &["a"])).unwrap();
    assert!(!omit_only.is_empty());
    assert_eq!(omit_only.omitted().iter().collect::<Vec<_>>(), ["a"]);
    let rendered = omit_only.render(values(&[("a", b"1"), ("b", b"2")]));
    assert_eq!(rendered.keys().collect::<Vec<_>>(), ["b"]);
    let templated = Templates::check(&object(&[("a", 200)], &[("o", "{{ a }}")], &[])).unwrap();
    assert!(!templated.is_empty());
    assert!(templated.omitted().is_empty());
    assert!(templated.renders(), "a template is rendered");
    assert!(!omit_only.renders(), "omissions alone render nothing");
}

#[test]
fn quoting_writes_the_short_escapes_and_leaves_printable_text_alone() {
    for (quoting, expected) in [
        (Quoting::Json, "\"a b\\t\\r\\n\\\"\\\\\\u0001\u{85}\""),
        (Quoting::Yaml, "\"a b\\t\\r\\n\\\"\\\\\\u0001\\u0085\""),
    ] {
        let mut out = Vec::new();
        quote("a b\t\r\n\"\\\u{1}\u{85}".as_bytes(), quoting, &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }
}

#[test]
fn joining_and_indexing_are_the_only_operators() {
    let s = [("a", 200), ("b", 200)];
    assert_eq!(
        render_one("{{ a ~ '-' ~ values[\"b\"] }}", &[("a", b"1"), ("b", b"2")]),
        b"1-2"
    );
    assert!(
        refusal(&s, &[("o", "{{ other[\"a\"] }}")], &[])
            .contains("only values[\"key\"] may be indexed")
    );
    for comparison in ["{{ a is defined }}", "{{ 'x' if a else 'y' }}"] {
        assert!(
            refusal(&s, &[("o", comparison)], &[])
                .contains("comparisons, tests and conditional expressions are not allowed"),
            "{comparison}"
        );
    }
    let most = vec!["{{ a }}"; MAX_TEMPLATE_EXPRESSIONS].concat();
    assert!(Templates::check(&object(&[("a", 1)], &[("o", &most)], &[])).is_ok());
}

#[test]
fn a_refused_block_names_its_line() {
    for block in [
        "{% if password %}x{% endif %}",
        "{% for c in password %}{% endfor %}",
        "{% set x = password %}",
        "{% with x = password %}{% endwith %}",
        "{% filter upper %}x{% endfilter %}",
        "{% autoescape true %}x{% endautoescape %}",
        "{% set x %}y{% endset %}",
        "{% do b64encode(password) %}",
    ] {
        let message = refusal(
            &[("password", 200)],
            &[("out", &format!("a\n\n{block}"))],
            &[],
        );
        assert!(
            message.contains("line 3: only {{ ... }}"),
            "{block}: {message}"
        );
    }
}

proptest! {
    /// Every function is defined for every input, and never writes past its bound (which the
    /// check relied on).
    #[test]
    fn every_function_renders_any_bytes_within_its_bound(
        a in proptest::collection::vec(any::<u8>(), 0..300),
        b in proptest::collection::vec(any::<u8>(), 0..50),
        c in proptest::collection::vec(any::<u8>(), 0..50),
    ) {
        let args = [Plaintext::new(a.clone()), Plaintext::new(b.clone()), Plaintext::new(c.clone())];
        for &(name, function, arity) in FUNCTIONS {
            let function = if let Function::Indent(_) = function { Function::Indent(7) } else { function };
            let mut out = Vec::new();
            function.apply(&args[..arity], &mut out);
            let lengths: Vec<usize> = args[..arity].iter().map(Plaintext::len).collect();
            prop_assert!(out.len() <= function.bound(&lengths), "{name}");
        }
        let lossy = String::from_utf8_lossy(&a).into_owned();
        let mut json = Vec::new();
        quote(&a, Quoting::Json, &mut json);
        prop_assert_eq!(serde_json::from_slice::<String>(&json).unwrap(), lossy.clone());
        let mut yaml = Vec::new();
        quote(&a, Quoting::Yaml, &mut yaml);
        let yaml = String::from_utf8(yaml).unwrap();
        prop_assert_eq!(serde_saphyr::from_str::<String>(&yaml).unwrap(), lossy);
        let mut decoded = Vec::new();
        lenient_base64_decode(STANDARD.encode(&a).as_bytes(), &mut decoded);
        prop_assert_eq!(decoded, a);
    }
}
