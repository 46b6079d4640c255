# plugins/
