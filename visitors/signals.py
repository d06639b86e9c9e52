"""Write-path hook placeholder: filled by the incremental today-count mode."""
