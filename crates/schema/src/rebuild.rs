//! Columns to records: [`Rebuilder`] writes a row back as its exact original text.
//!
//! Each distinct layout is compiled once into a short program of literal runs and
//! value slots; rebuilding a row runs its layout's program against the row's values.

use std::ops::Range;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{
    Array, BooleanArray, ListArray, PrimitiveArray, RecordBatch, StringArray, StructArray,
};
use trailpack_decode::json::{Scanner, ValueKind};
use trailpack_decode::time::format_event_time;

use crate::encode::Style;
use crate::fields::{
    ADDITIONAL_FIELDS, FieldDef, Kind, LAYOUT, RAW, RECORD_FIELDS, RESIDUAL, column_name,
};
use crate::{MAX_DEPTH, SchemaError, marker};

/// One step of a compiled layout.
#[derive(Debug, Clone)]
enum Op {
    /// Copy a range of the layout text.
    Literal(Range<usize>),
    /// Write leaf `leaf`'s value; `element` indexes into the row's list for list leaves.
    Value { leaf: usize, element: usize },
    /// Copy the next value of the row's `additionalfields`.
    Additional,
    /// Copy the next value of the row's residual.
    Residual,
}

#[derive(Debug)]
struct Program {
    style: Style,
    ops: Vec<Op>,
}

/// A leaf column, resolved for fast access.
enum Leaf<'a> {
    String(&'a StringArray),
    Json(&'a StringArray),
    Bool(&'a BooleanArray),
    Timestamp(&'a PrimitiveArray<TimestampMicrosecondType>),
}

/// Where each key of a struct level leads, by the struct's field order.
enum Slot {
    Leaf(usize),
    Struct(Vec<Slot>),
    List(Vec<Slot>),
}

/// Rebuilds rows of one [`RecordBatch`] of the archive schema into exact record text.
pub struct Rebuilder<'a> {
    leaves: Vec<(Leaf<'a>, Option<&'a ListArray>)>,
    slots: Vec<Slot>,
    layout: &'a StringArray,
    additional: &'a StringArray,
    residual: &'a StringArray,
    raw: &'a StringArray,
    /// Compiled layouts; the key is a row's whole layout text, looked up per row.
    programs: foldhash::HashMap<&'a str, Program>,
    scratch: String,
}

fn column_error(column: &str, reason: &'static str) -> SchemaError {
    SchemaError::Column {
        column: column.to_string(),
        reason,
    }
}

fn text_column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a StringArray, SchemaError> {
    batch
        .column_by_name(name)
        .ok_or_else(|| column_error(name, "missing"))?
        .as_string_opt::<i32>()
        .ok_or_else(|| column_error(name, "not a string column"))
}

impl<'a> Rebuilder<'a> {
    /// Resolve the columns of `batch`, which must have the archive schema's columns
    /// (extra columns are ignored).
    pub fn try_new(batch: &'a RecordBatch) -> Result<Self, SchemaError> {
        let mut leaves = Vec::new();
        let mut slots = Vec::new();
        for def in RECORD_FIELDS {
            let name = column_name(def.key);
            let array = batch
                .column_by_name(&name)
                .ok_or_else(|| column_error(&name, "missing"))?;
            slots.push(resolve(def, &name, array.as_ref(), None, &mut leaves)?);
        }
        Ok(Rebuilder {
            leaves,
            slots,
            layout: text_column(batch, LAYOUT)?,
            additional: text_column(batch, ADDITIONAL_FIELDS)?,
            residual: text_column(batch, RESIDUAL)?,
            raw: text_column(batch, RAW)?,
            programs: foldhash::HashMap::default(),
            scratch: String::new(),
        })
    }

    /// Append row `row`'s exact original text to `out`.
    pub fn rebuild(&mut self, row: usize, out: &mut Vec<u8>) -> Result<(), SchemaError> {
        let fail = |reason: String| SchemaError::Rebuild { row, reason };
        if row >= self.layout.len() {
            return Err(fail("row out of range".into()));
        }
        if self.raw.is_valid(row) {
            out.extend_from_slice(self.raw.value(row).as_bytes());
            return Ok(());
        }
        let layout: &'a str = self.layout.value(row);
        if !self.programs.contains_key(layout) {
            let program = compile(layout, &self.slots).map_err(fail)?;
            self.programs.insert(layout, program);
        }
        let program = &self.programs[layout];
        let mut additional = Values::new(self.additional, row);
        let mut residual = Values::new(self.residual, row);
        let template = layout.as_bytes();
        for op in &program.ops {
            match op {
                Op::Literal(range) => out.extend_from_slice(&template[range.clone()]),
                Op::Additional => out.extend_from_slice(additional.next().map_err(fail)?),
                Op::Residual => out.extend_from_slice(residual.next().map_err(fail)?),
                Op::Value { leaf, element } => {
                    let (leaf, list) = &self.leaves[*leaf];
                    let index = match list {
                        Some(list) => list.value_offsets()[row] as usize + element,
                        None => row,
                    };
                    write_leaf(leaf, index, program.style, &mut self.scratch, out)
                        .ok_or_else(|| fail(format!("no value at index {index}")))?;
                }
            }
        }
        Ok(())
    }
}

fn write_leaf(
    leaf: &Leaf<'_>,
    index: usize,
    style: Style,
    scratch: &mut String,
    out: &mut Vec<u8>,
) -> Option<()> {
    let valid = |array: &dyn Array| index < array.len() && array.is_valid(index);
    match leaf {
        Leaf::String(array) if valid(*array) => style.write_string(array.value(index), out),
        Leaf::Json(array) if valid(*array) => out.extend_from_slice(array.value(index).as_bytes()),
        Leaf::Bool(array) if valid(*array) => out.extend_from_slice(if array.value(index) {
            b"true"
        } else {
            b"false"
        }),
        Leaf::Timestamp(array) if valid(*array) => {
            scratch.clear();
            format_event_time(array.value(index), scratch);
            style.write_string(scratch, out);
        }
        _ => return None,
    }
    Some(())
}

/// The values of a row's `additionalfields` object or residual array, in order.
struct Values<'a> {
    scanner: Option<Scanner<'a>>,
    first: bool,
    object: bool,
}

impl<'a> Values<'a> {
    fn new(column: &'a StringArray, row: usize) -> Self {
        let scanner = column
            .is_valid(row)
            .then(|| Scanner::new(column.value(row).as_bytes(), MAX_DEPTH));
        let object = scanner
            .as_ref()
            .is_some_and(|s| s.bytes().first() == Some(&b'{'));
        Values {
            scanner,
            first: true,
            object,
        }
    }

    fn next(&mut self) -> Result<&'a [u8], String> {
        let scanner = self
            .scanner
            .as_mut()
            .ok_or("layout refers to a stored value but there is none")?;
        let bad = |e: trailpack_decode::json::SyntaxError| format!("stored values: {e}");
        if self.first {
            if self.object {
                scanner.begin_object().map_err(bad)?;
            } else {
                scanner.begin_array().map_err(bad)?;
            }
        }
        let more = if self.object {
            scanner.next_member(self.first).map_err(bad)?.is_some()
        } else {
            scanner.next_element(self.first).map_err(bad)?
        };
        self.first = false;
        if !more {
            return Err("layout refers to more stored values than there are".into());
        }
        let span = scanner.skip_value().map_err(bad)?;
        Ok(&scanner.bytes()[span])
    }
}

/// Resolve `array` (the column for `def`) into leaves, returning its slot.
fn resolve<'a>(
    def: &FieldDef,
    name: &str,
    array: &'a dyn Array,
    list: Option<&'a ListArray>,
    leaves: &mut Vec<(Leaf<'a>, Option<&'a ListArray>)>,
) -> Result<Slot, SchemaError> {
    let wrong = || column_error(name, "unexpected type");
    let leaf = match def.kind {
        Kind::String => Leaf::String(array.as_string_opt::<i32>().ok_or_else(wrong)?),
        Kind::Json => Leaf::Json(array.as_string_opt::<i32>().ok_or_else(wrong)?),
        Kind::Bool => Leaf::Bool(array.as_boolean_opt().ok_or_else(wrong)?),
        Kind::Timestamp => Leaf::Timestamp(
            array
                .as_primitive_opt::<TimestampMicrosecondType>()
                .ok_or_else(wrong)?,
        ),
        Kind::Struct(defs) => {
            let array = array.as_struct_opt().ok_or_else(wrong)?;
            return Ok(Slot::Struct(resolve_struct(
                defs, name, array, list, leaves,
            )?));
        }
        Kind::List(defs) => {
            let list_array = array.as_list_opt::<i32>().ok_or_else(wrong)?;
            let values = list_array.values().as_struct_opt().ok_or_else(wrong)?;
            let children = resolve_struct(defs, name, values, Some(list_array), leaves)?;
            return Ok(Slot::List(children));
        }
    };
    leaves.push((leaf, list));
    Ok(Slot::Leaf(leaves.len() - 1))
}

fn resolve_struct<'a>(
    defs: &[FieldDef],
    name: &str,
    array: &'a StructArray,
    list: Option<&'a ListArray>,
    leaves: &mut Vec<(Leaf<'a>, Option<&'a ListArray>)>,
) -> Result<Vec<Slot>, SchemaError> {
    defs.iter()
        .map(|def| {
            let child_name = format!("{name}.{}", column_name(def.key));
            let child = array
                .column_by_name(&column_name(def.key))
                .ok_or_else(|| column_error(&child_name, "missing"))?;
            resolve(def, &child_name, child.as_ref(), list, leaves)
        })
        .collect()
}

/// Compile a layout into a program. The walk mirrors the normaliser's.
fn compile(layout: &str, slots: &[Slot]) -> Result<Program, String> {
    let bytes = layout.as_bytes();
    let style = bytes
        .first()
        .copied()
        .and_then(Style::from_byte)
        .ok_or("layout has no style byte")?;
    // The template proper starts after the style byte.
    let mut compiler = Compiler {
        scanner: Scanner::new(&bytes[1..], MAX_DEPTH).with_markers(),
        ops: Vec::new(),
        copied: 1,
    };
    compiler
        .object(RECORD_FIELDS, slots, 0)
        .map_err(|e| format!("layout: {e}"))?;
    if !compiler.scanner.at_end() {
        return Err("layout: text after the record".into());
    }
    compiler.literal_to(bytes.len());
    Ok(Program {
        style,
        ops: compiler.ops,
    })
}

struct Compiler<'a> {
    scanner: Scanner<'a>,
    ops: Vec<Op>,
    /// Offset into the whole layout (style byte included) copied so far.
    copied: usize,
}

impl Compiler<'_> {
    fn literal_to(&mut self, end: usize) {
        if end > self.copied {
            self.ops.push(Op::Literal(self.copied..end));
        }
    }

    fn marker(&mut self, op: Op) {
        // Scanner offsets are relative to the template, one past the style byte.
        let at = self.scanner.position() + 1;
        self.literal_to(at);
        self.ops.push(op);
        self.copied = at + 1;
        // Consume the marker itself.
        let _ = self.scanner.skip_value();
    }

    fn object(&mut self, defs: &[FieldDef], slots: &[Slot], element: usize) -> Result<(), String> {
        let template = self.scanner.bytes();
        self.scanner.begin_object().map_err(|e| e.to_string())?;
        let mut seen = 0u64;
        let mut first = true;
        while let Some(key) = self.scanner.next_member(first).map_err(|e| e.to_string())? {
            first = false;
            let key = &template[key];
            let index = defs
                .iter()
                .position(|def| {
                    key.len() == def.key.len() + 2 && &key[1..key.len() - 1] == def.key.as_bytes()
                })
                .filter(|&i| seen & (1 << i) == 0);
            let kind = self.scanner.peek().map_err(|e| e.to_string())?;
            let Some(index) = index else {
                if kind != ValueKind::Marker(marker::ADDITIONAL) {
                    return Err("an unknown member without its stored value".into());
                }
                self.marker(Op::Additional);
                continue;
            };
            seen |= 1 << index;
            match (kind, &slots[index]) {
                (ValueKind::Null, _) => {
                    self.scanner.skip_value().map_err(|e| e.to_string())?;
                }
                (ValueKind::Marker(marker::VALUE), Slot::Leaf(leaf)) => {
                    self.marker(Op::Value {
                        leaf: *leaf,
                        element,
                    });
                }
                (ValueKind::Marker(marker::ADDITIONAL), _) => self.marker(Op::Additional),
                (ValueKind::Marker(marker::RESIDUAL), _) => self.marker(Op::Residual),
                (ValueKind::Object, Slot::Struct(children)) => {
                    let Kind::Struct(child_defs) = defs[index].kind else {
                        return Err("struct slot without struct field".into());
                    };
                    self.object(child_defs, children, element)?;
                }
                (ValueKind::Array, Slot::List(children)) => {
                    let Kind::List(child_defs) = defs[index].kind else {
                        return Err("list slot without list field".into());
                    };
                    self.scanner.begin_array().map_err(|e| e.to_string())?;
                    let mut element = 0;
                    while self
                        .scanner
                        .next_element(element == 0)
                        .map_err(|e| e.to_string())?
                    {
                        self.object(child_defs, children, element)?;
                        element += 1;
                    }
                }
                _ => return Err(format!("unexpected {kind:?} for a known member")),
            }
        }
        Ok(())
    }
}
