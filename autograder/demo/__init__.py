"""The main job: the full instructor cycle on a sample cohort, in a throwaway course directory."""
