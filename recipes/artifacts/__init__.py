"""What stages leave behind: version records, checkpoints, the multimodal split, release variants."""
