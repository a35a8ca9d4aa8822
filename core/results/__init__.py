"""Reading results: tables over seeds, the audit of augmentations, the what-if cost model,
charts, the HTML report, and results files to share."""
