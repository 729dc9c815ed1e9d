//! A Parquet writer that encodes and compresses the columns of a row group in
//! parallel (arrow-rs's `ArrowWriter` encodes them one after another on the
//! calling thread, which left a core idle while the other normalised), largest
//! column first.

use std::io::Write;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves,
};
use parquet::errors::{ParquetError, Result};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use rayon::prelude::*;

/// Writes batches into row groups of at most `row_group_rows` rows, each
/// column's encoding on the rayon pool.
pub(crate) struct ParallelWriter<W: Write + Send> {
    file: SerializedFileWriter<W>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// How many Parquet leaf columns each field of `schema` has, in order.
    leaves_per_field: Vec<usize>,
    row_group_rows: usize,
    /// The open row group: its column writers and rows so far.
    open: Option<(Vec<ArrowColumnWriter>, usize)>,
    row_groups: usize,
}

impl<W: Write + Send> ParallelWriter<W> {
    /// A writer of `schema` to `sink` with `properties` (the Arrow schema is kept
    /// in the file's metadata, as `ArrowWriter` keeps it).
    pub(crate) fn try_new(
        sink: W,
        schema: SchemaRef,
        properties: WriterProperties,
        row_group_rows: usize,
    ) -> Result<Self> {
        let (file, factory) = ArrowWriter::try_new(sink, schema.clone(), Some(properties))?
            .into_serialized_writer()?;
        let descriptor = file.schema_descr();
        let mut leaves_per_field = vec![0; schema.fields().len()];
        for leaf in 0..descriptor.num_columns() {
            leaves_per_field[descriptor.get_column_root_idx(leaf)] += 1;
        }
        Ok(ParallelWriter {
            file,
            factory,
            schema,
            leaves_per_field,
            row_group_rows: row_group_rows.max(1),
            open: None,
            row_groups: 0,
        })
    }

    /// Append `batch`, closing row groups as they fill.
    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let (writers, rows) = match self.open.as_mut() {
                Some(open) => open,
                None => {
                    let writers = self.factory.create_column_writers(self.row_groups)?;
                    self.open.insert((writers, 0))
                }
            };
            let take = (self.row_group_rows - *rows).min(batch.num_rows() - offset);
            let slice = batch.slice(offset, take);
            // One field per job, its leaves' levels computed there too (on this
            // thread they held up the cores; docs/BENCHMARKS.md). In decreasing
            // size, so that the jobs left at the end are small ones and a core does
            // not wait on a large one. (Roughly: rayon halves the list, so a
            // second core starts in its middle.)
            let mut rest = writers.as_mut_slice();
            let mut jobs = Vec::with_capacity(self.leaves_per_field.len());
            for ((field, column), &leaves) in self
                .schema
                .fields()
                .iter()
                .zip(slice.columns())
                .zip(&self.leaves_per_field)
            {
                let (field_writers, tail) = std::mem::take(&mut rest).split_at_mut(leaves);
                rest = tail;
                jobs.push((column.get_array_memory_size(), field, column, field_writers));
            }
            jobs.sort_by_key(|(cost, ..)| std::cmp::Reverse(*cost));
            jobs.into_par_iter().with_max_len(1).try_for_each(
                |(_, field, column, field_writers)| {
                    let leaves = compute_leaves(field, column)?;
                    if leaves.len() != field_writers.len() {
                        return Err(ParquetError::General(format!(
                            "{}: {} leaf columns, {} writers",
                            field.name(),
                            leaves.len(),
                            field_writers.len()
                        )));
                    }
                    field_writers
                        .iter_mut()
                        .zip(leaves)
                        .try_for_each(|(writer, leaf)| writer.write(&leaf))
                },
            )?;
            *rows += take;
            offset += take;
            if *rows >= self.row_group_rows {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Close the open row group, if any: its columns' last pages are compressed
    /// in parallel, largest column first, then appended in order.
    pub(crate) fn flush(&mut self) -> Result<()> {
        let Some((writers, _)) = self.open.take() else {
            return Ok(());
        };
        let mut writers: Vec<(usize, ArrowColumnWriter)> =
            writers.into_iter().enumerate().collect();
        writers.sort_by_key(|(_, writer)| std::cmp::Reverse(writer.memory_size()));
        let mut chunks: Vec<(usize, ArrowColumnChunk)> = writers
            .into_par_iter()
            .with_max_len(1)
            .map(|(index, writer)| writer.close().map(|chunk| (index, chunk)))
            .collect::<Result<_>>()?;
        chunks.sort_unstable_by_key(|(index, _)| *index);
        let mut row_group = self.file.next_row_group()?;
        for (_, chunk) in chunks {
            chunk.append_to_row_group(&mut row_group)?;
        }
        row_group.close()?;
        self.row_groups += 1;
        Ok(())
    }

    /// Row groups written so far.
    pub(crate) fn row_groups(&self) -> usize {
        self.row_groups
    }

    /// Close the last row group, write the footer, and return the sink.
    pub(crate) fn into_inner(mut self) -> Result<W> {
        self.flush()?;
        self.file.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array, StringArray, StructArray};
    use arrow_schema::{DataType, Field, Fields, Schema};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;

    fn batch(from: i64, rows: i64) -> RecordBatch {
        let numbers: ArrayRef = Arc::new(Int64Array::from_iter_values(from..from + rows));
        let texts: ArrayRef = Arc::new(StringArray::from_iter(
            (from..from + rows).map(|i| (i % 3 != 0).then(|| format!("text {i}"))),
        ));
        // Two leaves in one field, with values of their own, so that a writer
        // given another field's leaf (or its sibling's) reads back wrong.
        let inner: ArrayRef = Arc::new(StringArray::from_iter(
            (from..from + rows).map(|i| (i % 5 != 0).then(|| format!("inner {i}"))),
        ));
        let count: ArrayRef = Arc::new(Int64Array::from_iter_values(
            (from..from + rows).map(|i| i * 7 + 1),
        ));
        let nested = StructArray::from(vec![
            (Arc::new(Field::new("inner", DataType::Utf8, true)), inner),
            (Arc::new(Field::new("count", DataType::Int64, false)), count),
        ]);
        // The largest column last, so that encoding largest first reorders them.
        let long: ArrayRef = Arc::new(StringArray::from_iter_values(
            (from..from + rows).map(|i| format!("{i:0>200}")),
        ));
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("t", DataType::Utf8, true),
            Field::new(
                "s",
                DataType::Struct(Fields::from(vec![
                    Field::new("inner", DataType::Utf8, true),
                    Field::new("count", DataType::Int64, false),
                ])),
                false,
            ),
            Field::new("long", DataType::Utf8, false),
        ]));
        RecordBatch::try_new(schema, vec![numbers, texts, Arc::new(nested), long]).unwrap()
    }

    #[test]
    fn row_groups_are_cut_at_the_limit_and_read_back_whole() {
        let batches = [batch(0, 700), batch(700, 250), batch(950, 1)];
        let schema = batches[0].schema();
        let mut writer =
            ParallelWriter::try_new(Vec::new(), schema, WriterProperties::default(), 300).unwrap();
        for batch in &batches {
            writer.write(batch).unwrap();
        }
        // 951 rows: three full row groups of 300 and one of 51.
        writer.flush().unwrap();
        assert_eq!(writer.row_groups(), 4);
        let bytes = bytes::Bytes::from(writer.into_inner().unwrap());
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).unwrap();
        let sizes: Vec<i64> = reader
            .metadata()
            .row_groups()
            .iter()
            .map(|rg| rg.num_rows())
            .collect();
        assert_eq!(sizes, [300, 300, 300, 51]);
        let read: Vec<RecordBatch> = reader.build().unwrap().map(Result::unwrap).collect();
        let expected = arrow_select::concat::concat_batches(&batches[0].schema(), &batches);
        let got = arrow_select::concat::concat_batches(&read[0].schema(), &read);
        assert_eq!(got.unwrap().columns(), expected.unwrap().columns());
    }
}
