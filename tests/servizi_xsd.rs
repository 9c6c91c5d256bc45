//! The service-specific XSD validator (`soap::xsd`) against libxml2.
//!
//! Differential: every schema under `fixtures/servizi/xsd/<case>/schema.xsd` is compiled by us,
//! and every document beside it is judged by us and by `xmllint --schema`; the verdicts must be
//! the same. Documents are named `ok-*.xml` or `ko-*.xml`, and xmllint must agree with the name
//! too, so a fixture cannot silently stop testing what it was written for. Without xmllint the
//! test fails (`make tools` installs it).
//!
//! Known differences, kept out of the corpus on purpose (we follow the XSD specification):
//! libxml2 refuses whitespace around the value of some built-in types (`int`, `long`, `date`...)
//! that XSD collapses, and compares `fixed` values character by character instead of by value.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use varco::soap::xml;
use varco::soap::xsd::{Invalid, Schema};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/servizi/xsd")
}

#[track_caller]
fn require_xmllint() {
    let spawned = Command::new("xmllint")
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(
        spawned.is_ok(),
        "required tool `xmllint` is missing (Debian package libxml2-utils): \
         run `make tools` to install it"
    );
}

/// libxml2's verdict: true when valid.
fn xmllint_valid(schema: &Path, doc: &Path) -> bool {
    let out = Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(schema)
        .arg(doc)
        .output()
        .expect("xmllint runs");
    match out.status.code() {
        Some(0) => true,
        Some(3) => false,
        other => panic!(
            "xmllint could not judge {} against {} (exit {other:?}): {}",
            doc.display(),
            schema.display(),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

fn ours(schema: &Schema, doc: &Path) -> Result<(), Invalid> {
    let bytes = std::fs::read(doc).expect("fixture readable");
    let element =
        xml::parse(&bytes).unwrap_or_else(|e| panic!("{} is not well-formed: {e}", doc.display()));
    schema.validate(&element)
}

fn sorted(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("fixture directory")
        .map(|e| e.expect("directory entry").path())
        .collect();
    out.sort();
    out
}

#[test]
fn verdicts_match_xmllint() {
    require_xmllint();
    let mut pairs = 0;
    let mut disagreements = Vec::new();
    let cases: Vec<PathBuf> = sorted(&fixtures())
        .into_iter()
        .filter(|p| p.is_dir())
        .collect();
    assert!(
        cases.len() >= 6,
        "expected at least 6 schemas, found {}",
        cases.len()
    );
    for case in cases {
        let xsd_path = case.join("schema.xsd");
        let text = std::fs::read_to_string(&xsd_path).expect("schema readable");
        let schema = Schema::compile(&text)
            .unwrap_or_else(|e| panic!("{} does not compile: {e}", xsd_path.display()));
        let docs: Vec<PathBuf> = sorted(&case)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "xml"))
            .collect();
        assert!(
            docs.len() >= 10,
            "{} has fewer than 10 documents",
            case.display()
        );
        for doc in docs {
            let name = doc.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let intended = name.starts_with("ok-");
            assert!(
                intended || name.starts_with("ko-"),
                "{name}: fixture documents are named ok-* or ko-*"
            );
            let theirs = xmllint_valid(&xsd_path, &doc);
            let verdict = ours(&schema, &doc);
            pairs += 1;
            if theirs != intended {
                disagreements.push(format!(
                    "{}: xmllint says {}, the name says {}",
                    doc.display(),
                    theirs,
                    intended
                ));
            }
            if theirs != verdict.is_ok() {
                disagreements.push(format!(
                    "{}: xmllint says valid={theirs}, we say {verdict:?}",
                    doc.display()
                ));
            }
            if let Err(invalid) = &verdict {
                assert!(!invalid.problem.is_empty() && !invalid.path.is_empty());
            }
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
    assert!(pairs >= 60, "only {pairs} schema/document pairs");
    eprintln!("{pairs} schema/document pairs, all agreeing with xmllint");
}

/// The problems name the field: the path to it and what is wrong.
#[test]
fn problems_name_the_field() {
    let schema = Schema::compile(
        &std::fs::read_to_string(fixtures().join("bollo/schema.xsd")).expect("schema"),
    )
    .expect("compiles");
    let check = |doc: &str| {
        let element = xml::parse(doc.as_bytes()).expect("well-formed");
        schema.validate(&element).err().map(|e| e.to_string())
    };
    let ns = r#"xmlns="urn:varco:test:bollo""#;
    assert_eq!(
        check(&format!(
            "<bollo {ns}><conTarga><categoria>A</categoria><targa>AB123CDEF</targa></conTarga></bollo>"
        ))
        .as_deref(),
        Some("bollo/conTarga/targa: has 9 characters, at most 8 allowed")
    );
    assert_eq!(
        check(&format!(
            "<bollo {ns}><conTarga><categoria>Q</categoria><targa>AB123</targa></conTarga></bollo>"
        ))
        .as_deref(),
        Some("bollo/conTarga/categoria: value \"Q\" is not one of A, M, R")
    );
    assert_eq!(
        check(&format!(
            "<bollo {ns}><conTarga><categoria>A</categoria></conTarga></bollo>"
        ))
        .as_deref(),
        Some("bollo/conTarga: missing element targa")
    );
    assert_eq!(
        check(&format!(
            "<bollo {ns}><conTarga><targa>AB123</targa></conTarga></bollo>"
        ))
        .as_deref(),
        Some("bollo/conTarga/targa: unexpected element targa, expected categoria")
    );
    assert_eq!(
        check("<bollo><telaio>x</telaio></bollo>").as_deref(),
        Some("bollo: the document's root bollo is not declared by the schema")
    );
    let long = "Z".repeat(500);
    let message = check(&format!("<bollo {ns}><telaio>{long}</telaio></bollo>")).expect("invalid");
    assert!(message.len() < 120, "values are cut: {message}");
    assert_eq!(
        schema.roots(),
        vec![(Some("urn:varco:test:bollo".to_owned()), "bollo".to_owned())]
    );
}

fn schema_with(body: &str) -> String {
    format!(
        r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:t="urn:t"
            targetNamespace="urn:t" elementFormDefault="qualified">{body}</xs:schema>"#
    )
}

#[test]
fn unsupported_constructs_are_refused_by_name() {
    let cases: &[(&str, &str)] = &[
        (r#"<xs:import namespace="urn:x"/>"#, "xs:import"),
        (r#"<xs:include schemaLocation="x.xsd"/>"#, "xs:include"),
        (r#"<xs:redefine schemaLocation="x.xsd"/>"#, "xs:redefine"),
        (
            r#"<xs:group name="g"><xs:sequence/></xs:group>"#,
            "xs:group",
        ),
        (r#"<xs:attributeGroup name="g"/>"#, "xs:attributeGroup"),
        (r#"<xs:attribute name="a"/>"#, "xs:attribute"),
        (
            r#"<xs:element name="a" substitutionGroup="t:b"/><xs:element name="b"/>"#,
            "substitutionGroup",
        ),
        (r#"<xs:element name="a" abstract="true"/>"#, "abstract"),
        (
            r#"<xs:element name="a" type="xs:string" nillable="true"/>"#,
            "nillable",
        ),
        (r#"<xs:complexType name="c" mixed="true"/>"#, "mixed"),
        (
            r#"<xs:complexType name="c"><xs:complexContent><xs:extension base="t:d"/></xs:complexContent></xs:complexType><xs:complexType name="d"/>"#,
            "xs:complexContent",
        ),
        (
            r#"<xs:simpleType name="l"><xs:list itemType="xs:int"/></xs:simpleType>"#,
            "xs:list",
        ),
        (
            r#"<xs:simpleType name="u"><xs:union memberTypes="xs:int"/></xs:simpleType>"#,
            "xs:union",
        ),
        (
            r#"<xs:element name="a"><xs:complexType><xs:sequence><xs:element name="b"/></xs:sequence></xs:complexType><xs:key name="k"><xs:selector xpath="t:b"/><xs:field xpath="."/></xs:key></xs:element>"#,
            "xs:key",
        ),
        (
            r#"<xs:element name="a"><xs:complexType><xs:sequence><xs:group ref="t:g"/></xs:sequence></xs:complexType></xs:element>"#,
            "xs:group",
        ),
        (r#"<xs:element name="a" type="xs:ID"/>"#, "xs:ID"),
        (
            r#"<xs:element name="a" type="xs:duration"/>"#,
            "xs:duration",
        ),
        (r#"<xs:element name="a" type="t:nothing"/>"#, "t:nothing"),
        (
            r#"<xs:element name="a" type="q:x"/>"#,
            "undeclared prefix q",
        ),
        (r#"<xs:frobnicate/>"#, "xs:frobnicate"),
        (
            r#"<xs:simpleType name="s"><xs:restriction base="xs:int"><xs:maxLength value="3"/></xs:restriction></xs:simpleType>"#,
            "maxLength does not apply",
        ),
        (
            r#"<xs:simpleType name="s"><xs:restriction base="xs:string"><xs:pattern value="[a-z-[aeiou]]"/></xs:restriction></xs:simpleType>"#,
            "subtraction",
        ),
        (
            r#"<xs:simpleType name="s"><xs:restriction base="xs:string"><xs:pattern value="\p{IsBasicLatin}"/></xs:restriction></xs:simpleType>"#,
            "block",
        ),
        (
            r#"<xs:simpleType name="s"><xs:restriction base="t:s"/></xs:simpleType>"#,
            "derives from itself",
        ),
        (
            r#"<xs:complexType name="c"><xs:sequence><xs:element name="x" type="t:c"/></xs:sequence></xs:complexType>"#,
            "never end",
        ),
        (
            r#"<xs:complexType name="c"><xs:choice><xs:element name="x"/><xs:sequence><xs:element name="x"/><xs:element name="y"/></xs:sequence></xs:choice></xs:complexType>"#,
            "not deterministic",
        ),
        (
            r###"<xs:complexType name="c"><xs:sequence><xs:element name="x" minOccurs="0"/><xs:any namespace="##targetNamespace"/></xs:sequence></xs:complexType>"###,
            "not deterministic",
        ),
        (
            r#"<xs:complexType name="c"><xs:simpleContent><xs:restriction base="xs:string"/></xs:simpleContent></xs:complexType>"#,
            "xs:simpleContent with xs:restriction",
        ),
    ];
    for (body, named) in cases {
        let err = Schema::compile(&schema_with(body))
            .err()
            .unwrap_or_else(|| panic!("accepted: {body}"));
        assert!(
            err.message.contains(named),
            "{body}: the error {:?} does not name {named}",
            err.message
        );
        assert!(err.line.is_some(), "{body}: no line in {err}");
    }
    // Not a schema at all.
    assert!(Schema::compile("<a/>").is_err());
    assert!(Schema::compile("not xml").is_err());
    assert!(Schema::compile("<!DOCTYPE x><x/>").is_err());
}

/// Hostile documents finish: every one of these would take forever with a backtracking matcher.
#[test]
fn hostile_input_finishes() {
    let started = Instant::now();
    let schema = Schema::compile(&schema_with(
        r###"<xs:element name="r"><xs:complexType><xs:choice minOccurs="0" maxOccurs="unbounded">
             <xs:element name="a" type="xs:string"/><xs:element name="b" type="xs:string"/>
           </xs:choice></xs:complexType></xs:element>
           <xs:element name="n"><xs:complexType><xs:sequence>
             <xs:element ref="t:n" minOccurs="0"/>
             <xs:any namespace="##other" processContents="lax" minOccurs="0" maxOccurs="unbounded"/>
           </xs:sequence></xs:complexType></xs:element>
           <xs:element name="p"><xs:simpleType><xs:restriction base="xs:string">
             <xs:pattern value="(a|aa)*b"/></xs:restriction></xs:simpleType></xs:element>"###,
    ))
    .expect("compiles");
    let mut doc = String::from(r#"<r xmlns="urn:t">"#);
    for i in 0..4000 {
        doc.push_str(if i % 3 == 0 { "<b/>" } else { "<a/>" });
    }
    doc.push_str("<c/></r>");
    let parsed = xml::parse(doc.as_bytes()).expect("well-formed");
    let err = schema.validate(&parsed).expect_err("c is not allowed");
    assert!(err.problem.starts_with("unexpected element c"), "{err}");

    let deep = format!(
        r#"{}{}"#,
        r#"<n xmlns="urn:t">"#.repeat(31),
        "</n>".repeat(31)
    );
    let parsed = xml::parse(deep.as_bytes()).expect("well-formed");
    assert_eq!(schema.validate(&parsed), Ok(()));

    let nested = format!(
        r#"<n xmlns="urn:t">{}{}</n>"#,
        r#"<o:x xmlns:o="urn:o">"#.repeat(30),
        "</o:x>".repeat(30)
    );
    let parsed = xml::parse(nested.as_bytes()).expect("well-formed");
    assert_eq!(schema.validate(&parsed), Ok(()));

    let pattern = format!(r#"<p xmlns="urn:t">{}c</p>"#, "a".repeat(3000));
    let parsed = xml::parse(pattern.as_bytes()).expect("well-formed");
    assert!(schema.validate(&parsed).is_err());

    // A large but legal occurrence range compiles; an absurd one is refused, not expanded.
    assert!(
        Schema::compile(&schema_with(
            r#"<xs:element name="r"><xs:complexType><xs:sequence>
             <xs:element name="a" maxOccurs="1000"/></xs:sequence></xs:complexType></xs:element>"#
        ))
        .is_ok()
    );
    assert!(Schema::compile(&schema_with(
        r#"<xs:element name="r"><xs:complexType><xs:sequence maxOccurs="4000000000">
             <xs:element name="a" maxOccurs="4000000000"/></xs:sequence></xs:complexType></xs:element>"#
    ))
    .is_err());
    eprintln!("hostile inputs judged in {:?}", started.elapsed());
}

/// The built-in schemas (`builtin:<name>` in `[[servizi]]`) are real XSD to libxml2 too, and
/// both engines judge the catalogue-style examples under `fixtures/servizi/esempi/<name>/` alike
/// (and as the file names say).
#[test]
fn builtin_schemas_agree_with_xmllint_on_the_examples() {
    require_xmllint();
    let dir = tempfile::tempdir().expect("temporary directory");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/servizi/esempi");
    let mut judged = 0;
    for (name, text) in varco::config::servizi::BUILTIN_SCHEMAS {
        let xsd_path = dir.path().join(format!("{name}.xsd"));
        std::fs::write(&xsd_path, text).expect("schema written");
        let schema = Schema::compile(text)
            .unwrap_or_else(|e| panic!("builtin:{name} does not compile: {e}"));
        let docs = sorted(&root.join(name));
        assert!(docs.len() >= 3, "builtin:{name} has fewer than 3 examples");
        for doc in docs {
            let file = doc.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let intended = file.starts_with("ok-");
            let theirs = xmllint_valid(&xsd_path, &doc);
            let verdict = ours(&schema, &doc);
            assert_eq!(theirs, intended, "xmllint on {name}/{file}");
            assert_eq!(verdict.is_ok(), intended, "{name}/{file}: {verdict:?}");
            judged += 1;
        }
    }
    assert!(judged >= 20, "only {judged} examples");
}
