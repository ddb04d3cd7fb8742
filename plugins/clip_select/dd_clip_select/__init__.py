"""CLIP semantic scoring and two-stage diversity-aware selection of a pool.

Registered through the `ddcore` entry-point group under the stage name `clip_select`. The
implementation arrives with its own issue; until then the package registers nothing, so that
the install path and `dd plugins` listing are real.
"""
