// Delimited-text parsing for manifests: RFC 4180 quoting, CRLF or LF, and a delimiter sniffed from the
// header line when not given (GTSRB's ground truth is ';'-separated, most others ',').

export interface CsvTable {
  header: string[];
  rows: string[][];
  delimiter: string;
}

const CANDIDATES = [',', ';', '\t', '|'];

/** Picks the candidate delimiter that splits the header into the most fields (ties: order above). */
export function sniffDelimiter(text: string): string {
  const firstLine = text.split(/\r?\n/, 1)[0] ?? '';
  let best = ',';
  let bestCount = 0;
  for (const d of CANDIDATES) {
    const count = splitRecords(firstLine, d)[0]?.length ?? 0;
    if (count > bestCount) {
      best = d;
      bestCount = count;
    }
  }
  return best;
}

function splitRecords(text: string, delimiter: string): string[][] {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false;
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else field += ch;
      i++;
      continue;
    }
    if (ch === '"' && field === '') quoted = true;
    else if (ch === delimiter) {
      record.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      record.push(field);
      records.push(record);
      record = [];
      field = '';
      if (ch === '\r' && text[i + 1] === '\n') i++;
    } else field += ch;
    i++;
  }
  if (field !== '' || record.length) {
    record.push(field);
    records.push(record);
  }
  return records.filter((r) => !(r.length === 1 && r[0] === ''));
}

/** Parses CSV/TSV text with a header line. `label` names the file in errors. */
export function parseCsv(text: string, label: string, delimiter?: string): CsvTable {
  const d = delimiter ?? sniffDelimiter(text.replace(/^\uFEFF/, ''));
  const records = splitRecords(text.replace(/^\uFEFF/, ''), d);
  if (records.length === 0) throw new Error(`${label}: empty manifest (no header line)`);
  const header = records[0].map((h) => h.trim());
  const rows = records.slice(1);
  rows.forEach((r, i) => {
    if (r.length !== header.length) {
      throw new Error(`${label}: line ${i + 2} has ${r.length} fields, the header has ${header.length} (delimiter ${JSON.stringify(d)})`);
    }
  });
  return { header, rows, delimiter: d };
}
