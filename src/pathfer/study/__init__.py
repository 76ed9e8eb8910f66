"""The study stage: experiments (configs, methods, runner) write results; the report reads
them back into tables, statistics and figures."""
