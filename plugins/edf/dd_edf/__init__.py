"""EDF: trajectory matching (MTT/DATM) with Common Pattern Dropout and Discriminative Area Enhancement.

Registered through the `ddcore` entry-point group under the stage name `edf`. The
implementation arrives with its own issue; until then the package registers nothing, so that
the install path and `dd plugins` listing are real.
"""
