"""ONNX's own backend node test cases (``onnx.backend.test.case.node``, shipped with the onnx package)
through graphdiff's importer.

A case is selected when every node of its model is a default-domain op type of the importer's
``CONVERTERS``. The cases carry the newest opset of each op; graphdiff imports opsets 13 to 21
(``OPSETS``). A case outside that range runs at opset 21 only when each of its op types is defined there
as at the case's opset (the same schema ``since_version``); otherwise it is out of range and skipped.

Each selected case either imports, runs and matches ONNX's expected outputs (dtype, shape, and values at
the case's rtol/atol: 1e-3/1e-7 as ONNX's backend runner uses), or is refused with a GraphdiffError of one
clean line per problem naming the node or graph input at fault. ``EXPECTED_REFUSALS`` records each refused
case and a substring of its refusal, so a case that starts or stops being refused fails here;
``MATCH_FLOOR`` keeps a regression that refuses everything from passing. ``KNOWN_BUGS`` holds cases that
expose an importer bug (strictly xfailed until it is fixed).
"""

from __future__ import annotations

import copy
import json
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import graphdiff as gd

onnx = pytest.importorskip("onnx")
from onnx import numpy_helper  # noqa: E402

from graphdiff.onnxio import from_onnx  # noqa: E402
from graphdiff.onnxio.importer import CONVERTERS, DEFAULT_DOMAINS, OPSETS  # noqa: E402

#: The onnx release whose node cases the expectations below were recorded with.
ONNX_VERSION = "1.23.2"
#: The opset a case from beyond OPSETS runs at, when its ops are unchanged since: the newest graphdiff reads.
RUN_AT = OPSETS.stop - 1
#: Selected cases whose ops changed after opset 21: skipped.
OPSET_SKIPS = 345
#: At least this many cases import and match (229 did when this was written).
MATCH_FLOOR = 225

#: Cases graphdiff refuses: case name -> a substring of the refusal.
EXPECTED_REFUSALS: dict[str, str] = {
    # graph inputs of a dtype graphdiff holds no values of
    "test_add_int16": "has dtype INT16",
    "test_add_int8": "has dtype INT8",
    "test_add_uint16": "has dtype UINT16",
    "test_add_uint32": "has dtype UINT32",
    "test_add_uint64": "has dtype UINT64",
    "test_add_uint8": "has dtype UINT8",
    "test_blackmanwindow_expanded": "has dtype INT32",
    "test_blackmanwindow_symmetric_expanded": "has dtype INT32",
    "test_clip_default_int8_inbounds": "has dtype INT8",
    "test_clip_default_int8_inbounds_expanded": "has dtype INT8",
    "test_clip_default_int8_max": "has dtype INT8",
    "test_clip_default_int8_max_expanded": "has dtype INT8",
    "test_clip_default_int8_min": "has dtype INT8",
    "test_clip_default_int8_min_expanded": "has dtype INT8",
    "test_div_int16": "has dtype INT16",
    "test_div_int32_trunc": "has dtype INT32",
    "test_div_int8": "has dtype INT8",
    "test_div_uint16": "has dtype UINT16",
    "test_div_uint32": "has dtype UINT32",
    "test_div_uint64": "has dtype UINT64",
    "test_div_uint8": "has dtype UINT8",
    "test_equal": "has dtype INT32",
    "test_equal_bcast": "has dtype INT32",
    "test_equal_int16": "has dtype INT16",
    "test_equal_int8": "has dtype INT8",
    "test_equal_string": "has dtype STRING",
    "test_equal_string_broadcast": "has dtype STRING",
    "test_equal_uint16": "has dtype UINT16",
    "test_equal_uint32": "has dtype UINT32",
    "test_equal_uint64": "has dtype UINT64",
    "test_equal_uint8": "has dtype UINT8",
    "test_greater_equal_int16": "has dtype INT16",
    "test_greater_equal_int8": "has dtype INT8",
    "test_greater_equal_uint16": "has dtype UINT16",
    "test_greater_equal_uint32": "has dtype UINT32",
    "test_greater_equal_uint64": "has dtype UINT64",
    "test_greater_equal_uint8": "has dtype UINT8",
    "test_greater_int16": "has dtype INT16",
    "test_greater_int8": "has dtype INT8",
    "test_greater_uint16": "has dtype UINT16",
    "test_greater_uint32": "has dtype UINT32",
    "test_greater_uint64": "has dtype UINT64",
    "test_greater_uint8": "has dtype UINT8",
    "test_hammingwindow_expanded": "has dtype INT32",
    "test_hammingwindow_symmetric_expanded": "has dtype INT32",
    "test_hannwindow_expanded": "has dtype INT32",
    "test_hannwindow_symmetric_expanded": "has dtype INT32",
    "test_less_equal_int16": "has dtype INT16",
    "test_less_equal_int8": "has dtype INT8",
    "test_less_equal_uint16": "has dtype UINT16",
    "test_less_equal_uint32": "has dtype UINT32",
    "test_less_equal_uint64": "has dtype UINT64",
    "test_less_equal_uint8": "has dtype UINT8",
    "test_less_int16": "has dtype INT16",
    "test_less_int8": "has dtype INT8",
    "test_less_uint16": "has dtype UINT16",
    "test_less_uint32": "has dtype UINT32",
    "test_less_uint64": "has dtype UINT64",
    "test_less_uint8": "has dtype UINT8",
    "test_max_float16": "has dtype FLOAT16",
    "test_max_int16": "has dtype INT16",
    "test_max_int32": "has dtype INT32",
    "test_max_int8": "has dtype INT8",
    "test_max_uint16": "has dtype UINT16",
    "test_max_uint32": "has dtype UINT32",
    "test_max_uint64": "has dtype UINT64",
    "test_max_uint8": "has dtype UINT8",
    "test_min_float16": "has dtype FLOAT16",
    "test_min_int16": "has dtype INT16",
    "test_min_int32": "has dtype INT32",
    "test_min_int8": "has dtype INT8",
    "test_min_uint16": "has dtype UINT16",
    "test_min_uint32": "has dtype UINT32",
    "test_min_uint64": "has dtype UINT64",
    "test_min_uint8": "has dtype UINT8",
    "test_mul_int16": "has dtype INT16",
    "test_mul_int8": "has dtype INT8",
    "test_mul_uint16": "has dtype UINT16",
    "test_mul_uint32": "has dtype UINT32",
    "test_mul_uint64": "has dtype UINT64",
    "test_mul_uint8": "has dtype UINT8",
    "test_pow_types_float32_int32": "has dtype INT32",
    "test_pow_types_float32_uint32": "has dtype UINT32",
    "test_pow_types_float32_uint64": "has dtype UINT64",
    "test_pow_types_int32_float32": "has dtype INT32",
    "test_pow_types_int32_int32": "has dtype INT32",
    "test_sub_int16": "has dtype INT16",
    "test_sub_int8": "has dtype INT8",
    "test_sub_uint16": "has dtype UINT16",
    "test_sub_uint32": "has dtype UINT32",
    "test_sub_uint64": "has dtype UINT64",
    "test_sub_uint8": "has dtype UINT8",
    # a Reduce's axes, a graph input: graphdiff needs them while importing
    "test_reduce_l1_default_axes_keepdims_example": "input 1 (axes",
    "test_reduce_l1_default_axes_keepdims_example_expanded": "input 1 (axes",
    "test_reduce_l1_default_axes_keepdims_random": "input 1 (axes",
    "test_reduce_l1_default_axes_keepdims_random_expanded": "input 1 (axes",
    "test_reduce_l1_do_not_keepdims_example": "input 1 (axes",
    "test_reduce_l1_do_not_keepdims_example_expanded": "input 1 (axes",
    "test_reduce_l1_do_not_keepdims_random": "input 1 (axes",
    "test_reduce_l1_do_not_keepdims_random_expanded": "input 1 (axes",
    "test_reduce_l1_empty_set": "input 1 (axes",
    "test_reduce_l1_empty_set_expanded": "input 1 (axes",
    "test_reduce_l1_keep_dims_example": "input 1 (axes",
    "test_reduce_l1_keep_dims_example_expanded": "input 1 (axes",
    "test_reduce_l1_keep_dims_random": "input 1 (axes",
    "test_reduce_l1_keep_dims_random_expanded": "input 1 (axes",
    "test_reduce_l1_negative_axes_keep_dims_example": "input 1 (axes",
    "test_reduce_l1_negative_axes_keep_dims_example_expanded": "input 1 (axes",
    "test_reduce_l1_negative_axes_keep_dims_random": "input 1 (axes",
    "test_reduce_l1_negative_axes_keep_dims_random_expanded": "input 1 (axes",
    "test_reduce_l2_default_axes_keepdims_example": "input 1 (axes",
    "test_reduce_l2_default_axes_keepdims_random": "input 1 (axes",
    "test_reduce_l2_do_not_keepdims_example": "input 1 (axes",
    "test_reduce_l2_do_not_keepdims_random": "input 1 (axes",
    "test_reduce_l2_empty_set": "input 1 (axes",
    "test_reduce_l2_keep_dims_example": "input 1 (axes",
    "test_reduce_l2_keep_dims_random": "input 1 (axes",
    "test_reduce_l2_negative_axes_keep_dims_example": "input 1 (axes",
    "test_reduce_l2_negative_axes_keep_dims_random": "input 1 (axes",
    "test_reduce_log_sum_asc_axes_expanded": "input 1 (axes",
    "test_reduce_log_sum_default_expanded": "input 1 (axes",
    "test_reduce_log_sum_desc_axes_expanded": "input 1 (axes",
    "test_reduce_log_sum_empty_set_expanded": "input 1 (axes",
    "test_reduce_log_sum_negative_axes_expanded": "input 1 (axes",
    "test_reduce_max_bool_inputs": "input 1 (axes",
    "test_reduce_max_do_not_keepdims_example": "input 1 (axes",
    "test_reduce_max_do_not_keepdims_random": "input 1 (axes",
    "test_reduce_max_empty_set": "input 1 (axes",
    "test_reduce_max_empty_set_bool": "input 1 (axes",
    "test_reduce_max_keepdims_example": "input 1 (axes",
    "test_reduce_max_keepdims_random": "input 1 (axes",
    "test_reduce_max_negative_axes_keepdims_example": "input 1 (axes",
    "test_reduce_max_negative_axes_keepdims_random": "input 1 (axes",
    "test_reduce_mean_default_axes_keepdims_example": "input 1 (axes",
    "test_reduce_mean_default_axes_keepdims_random": "input 1 (axes",
    "test_reduce_mean_do_not_keepdims_example": "input 1 (axes",
    "test_reduce_mean_do_not_keepdims_random": "input 1 (axes",
    "test_reduce_mean_keepdims_example": "input 1 (axes",
    "test_reduce_mean_keepdims_random": "input 1 (axes",
    "test_reduce_mean_negative_axes_keepdims_example": "input 1 (axes",
    "test_reduce_mean_negative_axes_keepdims_random": "input 1 (axes",
    "test_reduce_min_bool_inputs": "input 1 (axes",
    "test_reduce_min_do_not_keepdims_example": "input 1 (axes",
    "test_reduce_min_do_not_keepdims_random": "input 1 (axes",
    "test_reduce_min_empty_set": "input 1 (axes",
    "test_reduce_min_keepdims_example": "input 1 (axes",
    "test_reduce_min_keepdims_random": "input 1 (axes",
    "test_reduce_min_negative_axes_keepdims_example": "input 1 (axes",
    "test_reduce_min_negative_axes_keepdims_random": "input 1 (axes",
    "test_reduce_sum_default_axes_keepdims_example": "input 1 (axes",
    "test_reduce_sum_default_axes_keepdims_random": "input 1 (axes",
    "test_reduce_sum_do_not_keepdims_example": "input 1 (axes",
    "test_reduce_sum_do_not_keepdims_random": "input 1 (axes",
    "test_reduce_sum_empty_axes_input_noop": "input 1 (axes",
    "test_reduce_sum_empty_axes_input_noop_example": "input 1 (axes",
    "test_reduce_sum_empty_set": "input 1 (axes",
    "test_reduce_sum_empty_set_non_reduced_axis_zero": "input 1 (axes",
    "test_reduce_sum_keepdims_example": "input 1 (axes",
    "test_reduce_sum_keepdims_random": "input 1 (axes",
    "test_reduce_sum_negative_axes_keepdims_example": "input 1 (axes",
    "test_reduce_sum_negative_axes_keepdims_random": "input 1 (axes",
    "test_reduce_sum_square_default_axes_keepdims_example": "input 1 (axes",
    "test_reduce_sum_square_default_axes_keepdims_example_expanded": "input 1 (axes",
    "test_reduce_sum_square_default_axes_keepdims_random": "input 1 (axes",
    "test_reduce_sum_square_default_axes_keepdims_random_expanded": "input 1 (axes",
    "test_reduce_sum_square_do_not_keepdims_example": "input 1 (axes",
    "test_reduce_sum_square_do_not_keepdims_example_expanded": "input 1 (axes",
    "test_reduce_sum_square_do_not_keepdims_random": "input 1 (axes",
    "test_reduce_sum_square_do_not_keepdims_random_expanded": "input 1 (axes",
    "test_reduce_sum_square_empty_set": "input 1 (axes",
    "test_reduce_sum_square_empty_set_expanded": "input 1 (axes",
    "test_reduce_sum_square_keepdims_example": "input 1 (axes",
    "test_reduce_sum_square_keepdims_example_expanded": "input 1 (axes",
    "test_reduce_sum_square_keepdims_random": "input 1 (axes",
    "test_reduce_sum_square_keepdims_random_expanded": "input 1 (axes",
    "test_reduce_sum_square_negative_axes_keepdims_example": "input 1 (axes",
    "test_reduce_sum_square_negative_axes_keepdims_example_expanded": "input 1 (axes",
    "test_reduce_sum_square_negative_axes_keepdims_random": "input 1 (axes",
    "test_reduce_sum_square_negative_axes_keepdims_random_expanded": "input 1 (axes",
    # class weights (graphdiff's losses weigh classes equally)
    "test_sce_NCd1_mean_weight_negative_ii": "input 2 (weights)",
    "test_sce_NCd1_mean_weight_negative_ii_expanded": "input 2 (weights)",
    "test_sce_NCd1_mean_weight_negative_ii_log_prob": "input 2 (weights)",
    "test_sce_NCd1_mean_weight_negative_ii_log_prob_expanded": "input 2 (weights)",
    "test_sce_NCd1d2d3_sum_weight_high_ii": "input 2 (weights)",
    "test_sce_NCd1d2d3_sum_weight_high_ii_expanded": "input 2 (weights)",
    "test_sce_NCd1d2d3_sum_weight_high_ii_log_prob": "input 2 (weights)",
    "test_sce_NCd1d2d3_sum_weight_high_ii_log_prob_expanded": "input 2 (weights)",
    "test_sce_NCd1d2d3d4d5_mean_weight": "input 2 (weights)",
    "test_sce_NCd1d2d3d4d5_mean_weight_expanded": "input 2 (weights)",
    "test_sce_NCd1d2d3d4d5_mean_weight_log_prob": "input 2 (weights)",
    "test_sce_NCd1d2d3d4d5_mean_weight_log_prob_expanded": "input 2 (weights)",
    "test_sce_mean_weight": "input 2 (weights)",
    "test_sce_mean_weight_expanded": "input 2 (weights)",
    "test_sce_mean_weight_ii": "input 2 (weights)",
    "test_sce_mean_weight_ii_3d": "input 2 (weights)",
    "test_sce_mean_weight_ii_3d_expanded": "input 2 (weights)",
    "test_sce_mean_weight_ii_3d_log_prob": "input 2 (weights)",
    "test_sce_mean_weight_ii_3d_log_prob_expanded": "input 2 (weights)",
    "test_sce_mean_weight_ii_4d": "input 2 (weights)",
    "test_sce_mean_weight_ii_4d_expanded": "input 2 (weights)",
    "test_sce_mean_weight_ii_4d_log_prob": "input 2 (weights)",
    "test_sce_mean_weight_ii_4d_log_prob_expanded": "input 2 (weights)",
    "test_sce_mean_weight_ii_expanded": "input 2 (weights)",
    "test_sce_mean_weight_ii_log_prob": "input 2 (weights)",
    "test_sce_mean_weight_ii_log_prob_expanded": "input 2 (weights)",
    "test_sce_mean_weight_log_prob": "input 2 (weights)",
    "test_sce_mean_weight_log_prob_expanded": "input 2 (weights)",
    "test_sce_none_weights": "input 2 (weights)",
    "test_sce_none_weights_expanded": "input 2 (weights)",
    "test_sce_none_weights_log_prob": "input 2 (weights)",
    "test_sce_none_weights_log_prob_expanded": "input 2 (weights)",
    # LayerNormalization's Mean and InvStdDev outputs
    "test_layer_normalization_2d_axis0": 'output 1 ("Mean") is used',
    "test_layer_normalization_2d_axis1": 'output 1 ("Mean") is used',
    "test_layer_normalization_2d_axis_negative_1": 'output 1 ("Mean") is used',
    "test_layer_normalization_2d_axis_negative_2": 'output 1 ("Mean") is used',
    "test_layer_normalization_3d_axis0_epsilon": 'output 1 ("Mean") is used',
    "test_layer_normalization_3d_axis1_epsilon": 'output 1 ("Mean") is used',
    "test_layer_normalization_3d_axis2_epsilon": 'output 1 ("Mean") is used',
    "test_layer_normalization_3d_axis_negative_1_epsilon": 'output 1 ("Mean") is used',
    "test_layer_normalization_3d_axis_negative_2_epsilon": 'output 1 ("Mean") is used',
    "test_layer_normalization_3d_axis_negative_3_epsilon": 'output 1 ("Mean") is used',
    "test_layer_normalization_4d_axis0": 'output 1 ("Mean") is used',
    "test_layer_normalization_4d_axis1": 'output 1 ("Mean") is used',
    "test_layer_normalization_4d_axis2": 'output 1 ("Mean") is used',
    "test_layer_normalization_4d_axis3": 'output 1 ("Mean") is used',
    "test_layer_normalization_4d_axis_negative_1": 'output 1 ("Mean") is used',
    "test_layer_normalization_4d_axis_negative_2": 'output 1 ("Mean") is used',
    "test_layer_normalization_4d_axis_negative_3": 'output 1 ("Mean") is used',
    "test_layer_normalization_4d_axis_negative_4": 'output 1 ("Mean") is used',
    "test_layer_normalization_default_axis": 'output 1 ("Mean") is used',
    # int64 arithmetic at run time (graphdiff's elementwise ops are float)
    "test_center_crop_pad_crop_and_pad_expanded": "maximum: input 'a' is int64",
    "test_center_crop_pad_crop_axes_chw_expanded": "maximum: input 'a' is int64",
    "test_center_crop_pad_crop_axes_hwc_expanded": "maximum: input 'a' is int64",
    "test_center_crop_pad_crop_expanded": "maximum: input 'a' is int64",
    "test_center_crop_pad_crop_negative_axes_hwc_expanded": "maximum: input 'a' is int64",
    "test_center_crop_pad_pad_expanded": "maximum: input 'a' is int64",
    "test_max_int64": "maximum: input 'a' is int64",
    "test_min_int64": "minimum: input 'a' is int64",
    "test_nllloss_NCd1_ii_expanded": "sub: input 'a' is int64",
    "test_nllloss_NCd1_mean_weight_negative_ii_expanded": "sub: input 'a' is int64",
    "test_nllloss_NCd1_weight_ii_expanded": "sub: input 'a' is int64",
    "test_nllloss_NCd1d2_no_weight_reduction_mean_ii_expanded": "sub: input 'a' is int64",
    "test_nllloss_NCd1d2_with_weight_reduction_sum_ii_expanded": "sub: input 'a' is int64",
    "test_nllloss_NCd1d2d3_none_no_weight_negative_ii_expanded": "sub: input 'a' is int64",
    "test_nllloss_NCd1d2d3_sum_weight_high_ii_expanded": "sub: input 'a' is int64",
    "test_pow_types_int64_float32": "power: input 'a' is int64",
    "test_pow_types_int64_int64": "power: input 'a' is int64",
    "test_where_long_example": "where: input 'a' is int64",
    # ignore_index: every label must be a class
    "test_sce_NCd1d2d3_none_no_weight_negative_ii": "attribute ignore_index",
    "test_sce_NCd1d2d3_none_no_weight_negative_ii_expanded": "attribute ignore_index",
    "test_sce_NCd1d2d3_none_no_weight_negative_ii_log_prob": "attribute ignore_index",
    "test_sce_NCd1d2d3_none_no_weight_negative_ii_log_prob_expanded": "attribute ignore_index",
    "test_sce_mean_no_weight_ii": "attribute ignore_index",
    "test_sce_mean_no_weight_ii_3d": "attribute ignore_index",
    "test_sce_mean_no_weight_ii_3d_expanded": "attribute ignore_index",
    "test_sce_mean_no_weight_ii_3d_log_prob": "attribute ignore_index",
    "test_sce_mean_no_weight_ii_3d_log_prob_expanded": "attribute ignore_index",
    "test_sce_mean_no_weight_ii_4d": "attribute ignore_index",
    "test_sce_mean_no_weight_ii_4d_expanded": "attribute ignore_index",
    "test_sce_mean_no_weight_ii_4d_log_prob": "attribute ignore_index",
    "test_sce_mean_no_weight_ii_4d_log_prob_expanded": "attribute ignore_index",
    "test_sce_mean_no_weight_ii_expanded": "attribute ignore_index",
    "test_sce_mean_no_weight_ii_log_prob": "attribute ignore_index",
    "test_sce_mean_no_weight_ii_log_prob_expanded": "attribute ignore_index",
    # Clip's bounds, graph inputs
    "test_clip": "input 1 (min",
    "test_clip_default_max": "input 2 (max",
    "test_clip_default_min": "input 1 (min",
    "test_clip_example": "input 1 (min",
    "test_clip_inbounds": "input 1 (min",
    "test_clip_min_greater_than_max": "input 1 (min",
    "test_clip_outbounds": "input 1 (min",
    "test_clip_splitbounds": "input 1 (min",
    # Slice's starts, ends, axes, steps, graph inputs
    "test_slice": "input 1 (starts",
    "test_slice_default_axes": "input 1 (starts",
    "test_slice_default_steps": "input 1 (starts",
    "test_slice_end_out_of_bounds": "input 1 (starts",
    "test_slice_neg": "input 1 (starts",
    "test_slice_neg_steps": "input 1 (starts",
    "test_slice_negative_axes": "input 1 (starts",
    "test_slice_start_out_of_bounds": "input 1 (starts",
    # Split's sizes, a graph input
    "test_split_variable_parts_1d_opset13": "input 1 (split",
    "test_split_variable_parts_1d_opset18": "input 1 (split",
    "test_split_variable_parts_2d_opset13": "input 1 (split",
    "test_split_variable_parts_2d_opset18": "input 1 (split",
    "test_split_variable_parts_default_axis_opset13": "input 1 (split",
    "test_split_variable_parts_default_axis_opset18": "input 1 (split",
    "test_split_zero_size_splits_opset13": "input 1 (split",
    "test_split_zero_size_splits_opset18": "input 1 (split",
    # losses over (N, C, d1, ...) scores: graphdiff's take (N, C) or (C,)
    "test_sce_NCd1d2d3d4d5_none_no_weight": "expected scores (N, C)",
    "test_sce_NCd1d2d3d4d5_none_no_weight_expanded": "expected scores (N, C)",
    "test_sce_NCd1d2d3d4d5_none_no_weight_log_prob": "expected scores (N, C)",
    "test_sce_NCd1d2d3d4d5_none_no_weight_log_prob_expanded": "expected scores (N, C)",
    "test_sce_mean_3d": "expected scores (N, C)",
    "test_sce_mean_3d_expanded": "expected scores (N, C)",
    "test_sce_mean_3d_log_prob": "expected scores (N, C)",
    "test_sce_mean_3d_log_prob_expanded": "expected scores (N, C)",
    # SoftmaxCrossEntropyLoss's log_prob output
    "test_sce_mean_log_prob": 'output 1 ("log_prob") is used',
    "test_sce_none_log_prob": 'output 1 ("log_prob") is used',
    "test_sce_sum_log_prob": 'output 1 ("log_prob") is used',
    # BatchNormalization in training mode
    "test_batchnorm_epsilon_training_mode": "training_mode=1",
    "test_batchnorm_example_training_mode": "training_mode=1",
    # Expand's shape, a graph input
    "test_expand_dim_changed": "input 1 (shape",
    "test_expand_dim_unchanged": "input 1 (shape",
    # an optional input
    "test_identity_opt": "is not a tensor",
}

#: Cases that expose an importer bug: case name -> what is wrong. Strictly xfailed.
KNOWN_BUGS: dict[str, str] = {}


# --- the cases ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NodeCase:
    """One ONNX node test case: its ``TestCase`` and the model to import (None when it is skipped)."""

    name: str
    case: Any = field(repr=False)
    model: onnx.ModelProto | None = field(repr=False)
    skip: str | None = None


def _collect() -> list[Any]:
    """Every node test case; made by running onnx's exporters (seeded, so deterministic), which warn about
    their own numpy casts and reseed numpy's global generator (restored here)."""
    from onnx.backend.test.case.node import collect_testcases

    state = np.random.get_state()
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return list(collect_testcases(""))
    finally:
        np.random.set_state(state)


def _default_opset(model: onnx.ModelProto) -> int:
    (version,) = [o.version for o in model.opset_import if o.domain in DEFAULT_DOMAINS]
    return version


def _changed_since(op_types: Sequence[str], opset: int) -> list[str]:
    """The op types whose definition at ``opset`` is not the one at RUN_AT."""
    changed = []
    for op_type in op_types:
        try:
            same = (
                onnx.defs.get_schema(op_type, opset).since_version
                == onnx.defs.get_schema(op_type, RUN_AT).since_version
            )
        except onnx.defs.SchemaError:
            same = False
        if not same:
            changed.append(op_type)
    return changed


def _select(cases: Sequence[Any]) -> list[NodeCase]:
    selected = []
    for case in cases:
        model = case.model
        if model is None or not model.graph.node:
            continue
        if any(n.domain not in DEFAULT_DOMAINS or n.op_type not in CONVERTERS for n in model.graph.node):
            continue
        opset = _default_opset(model)
        if opset in OPSETS:
            selected.append(NodeCase(case.name, case, model))
            continue
        op_types = sorted({n.op_type for n in model.graph.node})
        changed = _changed_since(op_types, opset)
        if changed:
            why = f"opset {opset}: {', '.join(changed)} changed since opset {RUN_AT}"
            selected.append(NodeCase(case.name, case, None, skip=why))
            continue
        # Every op of the case is defined at its opset as at RUN_AT (the same since_version), so the case
        # holds at RUN_AT too: run a copy that imports opset RUN_AT, which graphdiff reads.
        model = copy.deepcopy(model)
        for entry in model.opset_import:
            if entry.domain in DEFAULT_DOMAINS:
                entry.version = RUN_AT
        selected.append(NodeCase(case.name, case, model))
    return selected


CASES = _select(_collect())


def _params() -> Iterator[Any]:
    for node_case in CASES:
        name = node_case.name
        if node_case.skip is not None:
            marks: Any = pytest.mark.skip(reason=node_case.skip)
        elif name in KNOWN_BUGS:
            marks = pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[name])
        else:
            marks = ()
        yield pytest.param(node_case, id=name, marks=marks)


# --- checks -------------------------------------------------------------------------------------------


def _array(value: Any) -> np.ndarray:
    if isinstance(value, onnx.TensorProto):
        return numpy_helper.to_array(value)
    return np.asarray(value)


def _feeds(model: onnx.ModelProto, inputs: Sequence[Any]) -> dict[str, np.ndarray]:
    """The case's inputs by graph input name; an input that is also an initializer is not fed."""
    initializers = {t.name for t in model.graph.initializer}
    names = [i.name for i in model.graph.input if i.name not in initializers]
    assert len(names) == len(inputs), f"{len(inputs)} inputs for the graph inputs {names}"
    return {name: _array(value) for name, value in zip(names, inputs, strict=True)}


def _check_refusal(exc: gd.GraphdiffError, model: onnx.ModelProto, expected: str, importing: bool) -> None:
    """A refusal is one clean line per problem, each with its place; an import's names a node (its op
    type) or a graph input or output of the model."""
    text = str(exc)
    assert expected in text, f"the refusal no longer says {expected!r}:\n{text}"
    lines = text.split("\n")
    assert exc.problems and len(lines) == len(exc.problems), text
    op_types = {f"({node.op_type}," for node in model.graph.node}
    values = {json.dumps(v.name) for v in [*model.graph.input, *model.graph.output]}
    for problem, line in zip(exc.problems, lines, strict=True):
        assert problem.message and problem.place, line
        assert "Traceback" not in line and "\r" not in line, line
        if importing:
            assert any(o in problem.place for o in op_types) or any(v in problem.place for v in values), (
                f"the problem names no node or graph value of the model: {line}"
            )


def _check_output(name: str, got: Any, expected: Any, rtol: float, atol: float) -> None:
    got, expected = np.asarray(got), _array(expected)
    assert (got.dtype, got.shape) == (expected.dtype, expected.shape), (
        f"output {name}: {got.dtype}{list(got.shape)}, expected {expected.dtype}{list(expected.shape)}"
    )
    if expected.dtype.kind in "fc":
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=f"output {name}")
    else:
        np.testing.assert_array_equal(got, expected, err_msg=f"output {name}")


# --- tests --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("node_case", list(_params()))
def test_node_case(node_case: NodeCase) -> None:
    case, model = node_case.case, node_case.model
    assert model is not None
    refusal = EXPECTED_REFUSALS.get(case.name)
    importing, refused = True, None
    try:
        graph = from_onnx(model)
        importing = False
        results = [graph.forward(_feeds(model, inputs)) for inputs, _ in case.data_sets]
    except gd.GraphdiffError as exc:  # a refusal, at import or at run time (an op refusing its values)
        refused = exc
    if refused is not None:
        if refusal is None:
            pytest.fail(f"refused, but expected to import and match:\n{refused}", pytrace=False)
        _check_refusal(refused, model, refusal, importing)
        return
    assert refusal is None, (
        f"no longer refused (expected {refusal!r}): drop it from EXPECTED_REFUSALS if it matches"
    )
    outputs = graph.spec.outputs
    assert len(outputs) == len(model.graph.output), f"graph outputs {outputs}"
    for (_, expected), result in zip(case.data_sets, results, strict=True):
        assert len(expected) == len(outputs)
        for id, value_info, want in zip(outputs, model.graph.output, expected, strict=True):
            _check_output(value_info.name, result.value(id), want, case.rtol, case.atol)


def test_expectations_name_selected_cases() -> None:
    """Every case EXPECTED_REFUSALS and KNOWN_BUGS name is a selected case this onnx has."""
    runnable = {c.name for c in CASES if c.skip is None}
    stale = sorted((set(EXPECTED_REFUSALS) | set(KNOWN_BUGS)) - runnable)
    assert not stale, (
        f"not selected node cases with onnx {onnx.__version__} (recorded with {ONNX_VERSION}): {stale}"
    )
    assert not set(EXPECTED_REFUSALS) & set(KNOWN_BUGS)


def test_counts() -> None:
    """As many cases are out of the opset range as recorded, and at least MATCH_FLOOR match."""
    skips = sum(c.skip is not None for c in CASES)
    assert skips == OPSET_SKIPS, f"{skips} cases skipped for their opset (recorded: {OPSET_SKIPS})"
    matching = [
        c for c in CASES if c.skip is None and c.name not in EXPECTED_REFUSALS and c.name not in KNOWN_BUGS
    ]
    assert len(matching) >= MATCH_FLOOR, f"only {len(matching)} node cases match (floor {MATCH_FLOOR})"
