"""Results out to the hospital: HL7 v2.5.1 ORU^R01 messages and FHIR R4 Bundles.

Built from an output folder's ``results.json`` (what a run released), one message per patient
sample. A rejected run sends nothing; a sample with a result held for review (``HELD``) is not
sent; a re-signed version of a sample already sent goes out as a correction. Mapping field by
field: docs/lis.md.
"""

from thioquant.lis.export import ExportSummary, export_lis, lis_messages

__all__ = ["ExportSummary", "export_lis", "lis_messages"]
