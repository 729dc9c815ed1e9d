//! The CloudTrail fields that get typed columns, and the Arrow schema built from them.
//!
//! Column names and nesting follow Athena's CloudTrail table: the JSON key in lower
//! case (`useridentity.sessioncontext.sessionissuer.arn`). Free-form blocks are JSON
//! text. Everything not listed here is kept, exactly, in `additionalfields`.

use std::sync::{Arc, OnceLock};

use arrow_schema::{DataType, Field, Fields, Schema, TimeUnit};

/// The version of the column layout, stored in every part's metadata (and the
/// table's properties). Version 2 stores `_record_index` as a signed `int32`,
/// which every Delta reader accepts; version 1 (the first format) had `uint32`.
pub const SCHEMA_VERSION: &str = "2";
/// The key under which [`SCHEMA_VERSION`] is stored.
pub const SCHEMA_VERSION_PROPERTY: &str = "trailpack.schema.version";

/// How a field is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A JSON string, stored decoded.
    String,
    /// A JSON `true` or `false`.
    Bool,
    /// A JSON string in `eventTime` form, stored as a UTC timestamp (microseconds).
    Timestamp,
    /// Any JSON value, stored as its exact text.
    Json,
    /// A JSON object with known members.
    Struct(&'static [FieldDef]),
    /// A JSON array of objects with known members.
    List(&'static [FieldDef]),
}

/// One known member of a CloudTrail record or of one of its objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDef {
    /// The JSON key, as CloudTrail spells it.
    pub key: &'static str,
    /// How the value is stored.
    pub kind: Kind,
}

const fn f(key: &'static str, kind: Kind) -> FieldDef {
    FieldDef { key, kind }
}

use Kind::{Bool, Json, List, String as Str, Struct, Timestamp};

const SESSION_ISSUER: &[FieldDef] = &[
    f("type", Str),
    f("principalId", Str),
    f("arn", Str),
    f("accountId", Str),
    f("userName", Str),
];

const WEB_ID_FEDERATION: &[FieldDef] = &[f("federatedProvider", Str), f("attributes", Json)];

const SESSION_ATTRIBUTES: &[FieldDef] = &[f("creationDate", Str), f("mfaAuthenticated", Str)];

const SESSION_CONTEXT: &[FieldDef] = &[
    f("attributes", Struct(SESSION_ATTRIBUTES)),
    f("sessionIssuer", Struct(SESSION_ISSUER)),
    f("webIdFederationData", Struct(WEB_ID_FEDERATION)),
    f("sourceIdentity", Str),
    f("ec2RoleDelivery", Str),
    f("assumedRoot", Str),
];

const ON_BEHALF_OF: &[FieldDef] = &[f("userId", Str), f("identityStoreArn", Str)];

const IN_SCOPE_OF: &[FieldDef] = &[
    f("issuerType", Str),
    f("credentialsIssuedTo", Str),
    f("sourceArn", Str),
    f("sourceAccount", Str),
];

const USER_IDENTITY: &[FieldDef] = &[
    f("type", Str),
    f("principalId", Str),
    f("arn", Str),
    f("accountId", Str),
    f("invokedBy", Str),
    f("accessKeyId", Str),
    f("userName", Str),
    f("identityProvider", Str),
    f("credentialId", Str),
    f("sessionContext", Struct(SESSION_CONTEXT)),
    f("onBehalfOf", Struct(ON_BEHALF_OF)),
    f("inScopeOf", Struct(IN_SCOPE_OF)),
];

const RESOURCE: &[FieldDef] = &[f("ARN", Str), f("accountId", Str), f("type", Str)];

const TLS_DETAILS: &[FieldDef] = &[
    f("tlsVersion", Str),
    f("cipherSuite", Str),
    f("clientProvidedHostHeader", Str),
];

/// Every documented top-level field of eventVersion 1.0 to 1.11, in Athena's order.
pub const RECORD_FIELDS: &[FieldDef] = &[
    f("eventVersion", Str),
    f("userIdentity", Struct(USER_IDENTITY)),
    f("eventTime", Timestamp),
    f("eventSource", Str),
    f("eventName", Str),
    f("awsRegion", Str),
    f("sourceIPAddress", Str),
    f("userAgent", Str),
    f("errorCode", Str),
    f("errorMessage", Str),
    f("requestParameters", Json),
    f("responseElements", Json),
    f("additionalEventData", Json),
    f("requestID", Str),
    f("eventID", Str),
    f("resources", List(RESOURCE)),
    f("eventType", Str),
    f("apiVersion", Str),
    f("readOnly", Bool),
    f("recipientAccountId", Str),
    f("serviceEventDetails", Json),
    f("sharedEventID", Str),
    f("vpcEndpointId", Str),
    f("vpcEndpointAccountId", Str),
    f("eventCategory", Str),
    f("managementEvent", Bool),
    f("addendum", Json),
    f("sessionCredentialFromConsole", Str),
    f("edgeDeviceDetails", Json),
    f("tlsDetails", Struct(TLS_DETAILS)),
    f("insightDetails", Json),
    f("eventContext", Json),
];

/// Unknown members, as a JSON object from dotted path to exact value text.
pub const ADDITIONAL_FIELDS: &str = "additionalfields";
/// The record's template: its text with every stored value replaced by a marker.
pub const LAYOUT: &str = "_layout";
/// Exact text of values whose canonical spelling differs from the original.
pub const RESIDUAL: &str = "_residual";
/// The whole record, for the rare record that does not rebuild from its columns.
pub const RAW: &str = "_raw";
/// The key of the source file that held the record.
pub const SOURCE_KEY: &str = "_source_key";
/// The record's position in its source file's `Records` array.
pub const RECORD_INDEX: &str = "_record_index";

/// The bookkeeping columns after the CloudTrail fields, in schema order.
pub const BOOKKEEPING_COLUMNS: [&str; 6] = [
    ADDITIONAL_FIELDS,
    LAYOUT,
    RESIDUAL,
    RAW,
    SOURCE_KEY,
    RECORD_INDEX,
];

/// The Athena-style column name of a JSON key.
pub fn column_name(key: &str) -> std::string::String {
    key.to_ascii_lowercase()
}

fn data_type(kind: Kind) -> DataType {
    match kind {
        Str | Json => DataType::Utf8,
        Bool => DataType::Boolean,
        Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Struct(defs) => DataType::Struct(struct_fields(defs)),
        List(defs) => DataType::List(Arc::new(Field::new(
            "element",
            DataType::Struct(struct_fields(defs)),
            true,
        ))),
    }
}

pub(crate) fn struct_fields(defs: &[FieldDef]) -> Fields {
    defs.iter()
        .map(|def| Field::new(column_name(def.key), data_type(def.kind), true))
        .collect()
}

/// The archive's Arrow schema: typed CloudTrail columns, then the bookkeeping ones.
pub fn schema() -> Arc<Schema> {
    static SCHEMA: OnceLock<Arc<Schema>> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let mut fields: Vec<Field> = struct_fields(RECORD_FIELDS)
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            for name in BOOKKEEPING_COLUMNS {
                let (data_type, nullable) = match name {
                    RECORD_INDEX => (DataType::Int32, false),
                    SOURCE_KEY | LAYOUT => (DataType::Utf8, false),
                    _ => (DataType::Utf8, true),
                };
                fields.push(Field::new(name, data_type, nullable));
            }
            let metadata: std::collections::HashMap<_, _> = [(
                SCHEMA_VERSION_PROPERTY.to_string(),
                SCHEMA_VERSION.to_string(),
            )]
            .into();
            Arc::new(Schema::new_with_metadata(fields, metadata))
        })
        .clone()
}

/// The dotted names of the columns that hold JSON text (`Kind::Json`), at any
/// depth outside lists: `requestparameters`, …,
/// `useridentity.sessioncontext.webidfederationdata.attributes`.
pub fn json_text_columns() -> Vec<std::string::String> {
    fn walk(defs: &[FieldDef], prefix: &str, out: &mut Vec<std::string::String>) {
        for def in defs {
            let name = format!("{prefix}{}", column_name(def.key));
            match def.kind {
                Json => out.push(name),
                Struct(children) => walk(children, &format!("{name}."), out),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(RECORD_FIELDS, "", &mut out);
    out
}

/// One line per column: dotted name, Arrow type, and how it is stored.
pub fn describe() -> Vec<(std::string::String, std::string::String, &'static str)> {
    fn walk(
        defs: &[FieldDef],
        prefix: &str,
        out: &mut Vec<(std::string::String, std::string::String, &'static str)>,
    ) {
        for def in defs {
            let name = format!("{prefix}{}", column_name(def.key));
            let (type_name, how) = match def.kind {
                Str => ("string".into(), "typed"),
                Bool => ("boolean".into(), "typed"),
                Timestamp => ("timestamp(us, UTC)".into(), "typed"),
                Json => ("string".into(), "JSON text, exact"),
                Struct(_) => ("struct".into(), "typed"),
                List(_) => ("list<struct>".into(), "typed"),
            };
            out.push((name.clone(), type_name, how));
            match def.kind {
                Struct(children) => walk(children, &format!("{name}."), out),
                List(children) => walk(children, &format!("{name}[]."), out),
                _ => {}
            }
        }
    }
    let mut out = Vec::new();
    walk(RECORD_FIELDS, "", &mut out);
    for (name, how) in [
        (
            ADDITIONAL_FIELDS,
            "JSON text: unknown keys by dotted path, exact",
        ),
        (LAYOUT, "internal: key order and spacing template"),
        (RESIDUAL, "internal: non-canonical value spellings"),
        (RAW, "internal: whole record when it cannot rebuild"),
        (SOURCE_KEY, "source file key"),
        (RECORD_INDEX, "position in the source file"),
    ] {
        let type_name = if name == RECORD_INDEX {
            "int32"
        } else {
            "string"
        };
        out.push((name.to_string(), type_name.to_string(), how));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_plain_and_column_names_unique_at_every_level() {
        fn check(defs: &[FieldDef]) {
            let mut names: Vec<_> = defs.iter().map(|d| column_name(d.key)).collect();
            names.sort();
            let before = names.len();
            names.dedup();
            assert_eq!(before, names.len(), "{defs:?}");
            assert!(defs.len() <= 64, "seen-member bitmask holds 64");
            for def in defs {
                // The normaliser compares keys with the text (`Scanner::key_if`),
                // which holds only for keys that JSON writes without escapes.
                let plain = trailpack_decode::plain::plain_run(
                    def.key.as_bytes(),
                    trailpack_decode::plain::Stops::JSON,
                );
                assert_eq!(plain, def.key.len(), "{:?} needs an escape", def.key);
                if let Struct(children) | List(children) = def.kind {
                    check(children);
                }
            }
        }
        check(RECORD_FIELDS);
    }

    #[test]
    fn json_text_columns_are_every_json_field() {
        let columns = json_text_columns();
        assert_eq!(columns.len(), 9, "{columns:?}");
        assert!(columns.contains(&"responseelements".to_string()));
        assert!(
            columns.contains(
                &"useridentity.sessioncontext.webidfederationdata.attributes".to_string()
            )
        );
        let described: Vec<_> = describe()
            .into_iter()
            .filter(|(_, _, how)| *how == "JSON text, exact")
            .map(|(name, _, _)| name)
            .collect();
        assert_eq!(columns, described);
    }

    #[test]
    fn schema_matches_athena_names() {
        let schema = schema();
        assert_eq!(schema.field(0).name(), "eventversion");
        let DataType::Struct(identity) =
            schema.field_with_name("useridentity").unwrap().data_type()
        else {
            panic!("useridentity is a struct");
        };
        let names: Vec<_> = identity.iter().map(|f| f.name().as_str()).collect();
        assert!(names.contains(&"accesskeyid") && names.contains(&"sessioncontext"));
        assert_eq!(
            schema.fields().len(),
            RECORD_FIELDS.len() + BOOKKEEPING_COLUMNS.len()
        );
    }
}
