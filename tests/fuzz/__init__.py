"""Property-based tests (hypothesis) of the extraction code: srcset, CSS and
HTML extraction, page decoding and sniffing.  See README.rst here."""
