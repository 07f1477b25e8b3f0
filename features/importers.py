"""Importers that turn a user's files into validated raw tables (writing them is `rawio.write_tables`' job).

Two layouts: the canonical folder (one file per contract table, CSV or parquet) and the UCI Online Retail
order-line export. Both report bad input with file, row (CSV: line as an editor counts it) and the user's own
column name, and return every table validated, so a failure never leaves anything half-imported.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from features.contract import TABLES, DataError, validate
from features.derived import ONLINE_STORE, ONLINE_STORE_NAME, complete

log = logging.getLogger(__name__)

CANONICAL_SUFFIXES = (".csv", ".parquet")
CSV_LINE_OFFSET = 1  # data row i of a CSV with a header is line i + 1


def _read_csv(path: Path) -> pd.DataFrame:
    """Everything as text, only empty cells missing: ids keep leading zeros and "NA" stays a product code."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"cannot read as CSV ({exc})", file=path.name) from exc
    df.columns = df.columns.str.strip()  # "order_id, ts" headers written by hand
    return df


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
        raise DataError(f"cannot read as parquet ({exc})", file=path.name) from exc


def read_file(path: Path) -> pd.DataFrame:
    """A user's CSV (all text) or parquet file, by suffix; unreadable files raise `DataError` naming them."""
    if not path.exists():
        raise DataError("no such file", file=str(path))
    return _read_parquet(path) if path.suffix == ".parquet" else _read_csv(path)


def _canonical_file(folder: Path, name: str) -> Path | None:
    found = [folder / f"{name}{suffix}" for suffix in CANONICAL_SUFFIXES if (folder / f"{name}{suffix}").exists()]
    if len(found) > 1:
        raise DataError(
            f"both {found[0].name} and {found[1].name} are present; keep one so the table is unambiguous",
            file=found[0].name,
        )
    return found[0] if found else None


def import_canonical(folder: Path) -> dict[str, pd.DataFrame]:
    """Read `<table>.csv` or `<table>.parquet` per contract table in `folder`; only transactions is required.

    Files that are not contract tables are ignored (and logged), so a folder can hold notes or other exports.
    What the contract derives is derived (`features.derived.complete`): without a store_id column every line is
    an online sale at one online store, and absent stores, products and customers tables come from the lines.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    tables: dict[str, pd.DataFrame] = {}
    for name in TABLES:
        path = _canonical_file(folder, name)
        if path is None:
            continue
        if path.suffix == ".csv":
            tables[name] = validate(name, _read_csv(path), path.name, line_offset=CSV_LINE_OFFSET)
        else:
            tables[name] = validate(name, _read_parquet(path), path.name)
    if "transactions" not in tables:
        raise DataError(f"no transactions.csv or transactions.parquet in {folder}", file="transactions.csv")
    known = {f"{n}{s}" for n in TABLES for s in CANONICAL_SUFFIXES}
    ignored = sorted(p.name for p in folder.iterdir() if p.name not in known)
    if ignored:
        log.info("%s: ignoring files that are not contract tables: %s", folder, ignored)
    _warn_unknown_references(tables)
    tables = {
        name: df if df is tables.get(name) else validate(name, df, f"{folder.name} (derived {name})")
        for name, df in complete(tables).items()
    }
    log.info("imported %s from %s", {n: len(df) for n, df in tables.items()}, folder)
    return tables


def _warn_unknown_references(tables: dict[str, pd.DataFrame]) -> None:
    """Lines naming products or stores absent from their tables are legal (tables are optional) but odd."""
    tx = tables["transactions"]
    for table, column in (("products", "product_id"), ("stores", "store_id"), ("customers", "customer_id")):
        if table in tables and column in tx.columns:
            values = tx[column].dropna()
            unknown = values[~values.isin(tables[table][column])].unique()
            if len(unknown):
                log.warning(
                    "%d %s values in transactions are not in %s, e.g. %s",
                    len(unknown),
                    column,
                    table,
                    list(unknown[:3]),
                )


# UCI Online Retail layout: source column -> contract column of transactions
UCI_COLUMNS = {
    "InvoiceNo": "order_id",
    "CustomerID": "customer_id",
    "StockCode": "product_id",
    "InvoiceDate": "ts",
    "Quantity": "quantity",
    "UnitPrice": "unit_price",
}
UCI_OPTIONAL = ("Description", "Country")


def _read_uci(file: Path) -> tuple[pd.DataFrame, int | None]:
    """The file as a frame, plus the line offset for messages (CSV and spreadsheets count a header line)."""
    suffix = file.suffix.lower()
    if suffix == ".csv":
        return _read_csv(file), CSV_LINE_OFFSET
    if suffix == ".parquet":
        return _read_parquet(file), None
    if suffix in (".xlsx", ".xls"):
        try:
            return pd.read_excel(file, dtype={"InvoiceNo": str, "StockCode": str}), CSV_LINE_OFFSET
        except ImportError as exc:
            raise DataError(
                f"reading spreadsheets needs openpyxl ({exc}); export to CSV instead", file=file.name
            ) from exc
    raise DataError("expected a .csv, .xlsx or .parquet file", file=file.name)


def _uci_customer_ids(s: pd.Series) -> pd.Series:
    """CustomerID arrives as 17850, 17850.0 or "17850.0" depending on the export; all mean "17850".

    Numbers are left to `validate`, which writes whole floats without ".0"; text loses a trailing ".0" only,
    so ids that merely look numeric ("00123") keep their leading zeros.
    """
    if pd.api.types.is_numeric_dtype(s):
        return s
    out = s.astype(object).where(s.notna(), None)
    mask = out.notna()
    out[mask] = out[mask].astype(str).str.strip().str.replace(r"\.0+$", "", regex=True)
    return out


def _most_frequent(keys: pd.Series, values: pd.Series, key: str, value: str) -> pd.DataFrame:
    """Per key, its most frequent non-missing value (ties: alphabetical): a product's usual description."""
    pairs = pd.DataFrame({key: keys, value: values}).dropna()
    counts = pairs.value_counts().reset_index(name="n")
    counts = counts.sort_values(["n", value], ascending=[False, True], kind="stable")
    return counts.drop_duplicates(key)[[key, value]]


def import_online_retail(file: Path) -> dict[str, pd.DataFrame]:
    """Import the UCI Online Retail layout (csv, xlsx or parquet): transactions, products, customers, stores.

    Cancellations ("C" invoices) already carry negative quantities and stay as they are: returns. Lines
    without a CustomerID are guest purchases. Every line is an online sale at the single online store "S00".
    """
    file = Path(file)
    if not file.exists():
        raise FileNotFoundError(f"{file} does not exist")
    raw, line_offset = _read_uci(file)
    for column in UCI_COLUMNS:
        if column not in raw.columns:
            raise DataError("missing required column of the Online Retail layout", file=file.name, column=column)
    tx = pd.DataFrame({dst: raw[src] for src, dst in UCI_COLUMNS.items()})
    tx["customer_id"] = _uci_customer_ids(tx["customer_id"])
    tx["store_id"] = ONLINE_STORE
    tx["channel"] = "online"
    labels = {dst: src for src, dst in UCI_COLUMNS.items()}
    tx = validate("transactions", tx, file.name, line_offset=line_offset, labels=labels)

    product_ids = tx["product_id"]
    if "Description" in raw.columns:
        names = _most_frequent(product_ids, raw["Description"].astype("string").str.strip(), "product_id", "name")
    else:
        names = pd.DataFrame(columns=["product_id", "name"])
    products = pd.DataFrame({"product_id": pd.unique(product_ids)}).merge(names, on="product_id", how="left")
    products["name"] = products["name"].fillna(products["product_id"])  # a few codes never had a description

    customers = pd.DataFrame({"customer_id": pd.unique(tx["customer_id"].dropna())})
    if "Country" in raw.columns:
        regions = _most_frequent(tx["customer_id"], raw["Country"].astype("string"), "customer_id", "region")
        customers = customers.merge(regions, on="customer_id", how="left")
    stores = pd.DataFrame({"store_id": [ONLINE_STORE], "name": [ONLINE_STORE_NAME], "kind": ["online"]})

    tables = {
        "transactions": tx,
        "products": validate("products", products, f"{file.name} (derived products)"),
        "customers": validate("customers", customers, f"{file.name} (derived customers)"),
        "stores": validate("stores", stores, f"{file.name} (derived stores)"),
    }
    log.info(
        "imported %s from %s (%d returns, %d guest lines)",
        {n: len(df) for n, df in tables.items()},
        file.name,
        int((tx["quantity"] < 0).sum()),
        int(tx["customer_id"].isna().sum()),
    )
    return tables
