"""Statistics: matching detections to dots, FROC, agreement with the rater, chance levels, paired comparisons."""
