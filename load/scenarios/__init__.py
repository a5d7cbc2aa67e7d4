"""One module per benchmark scenario: TITLE, add_arguments, quick, params, run."""
