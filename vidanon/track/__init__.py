"""Stage 2: tracking. A tracker takes each frame's raw detections in order and gives back,
a few frames later (its look-ahead), the boxes to hide in that frame.

* :mod:`.stage`: the :class:`Tracker` interface, :class:`TrackStage` (a tracker and the
  shot-cut test, as every entry point runs them) and :class:`NoTracker` (``--no-track``);
* :mod:`.sort`: :class:`SortTracker`, SORT with look-ahead (written from the paper), built
  from :mod:`.kalman` (one track's filter), :mod:`.lsap` (the Hungarian matching),
  :mod:`.appearance` (a lost face's look) and :mod:`.shots` (shot cuts);
* :mod:`.joint`: one tracker per target kind, joined per frame;
* :mod:`.replay`: the tracks file (``--save-tracks`` / ``--tracks``), its recorder and replay.
"""

from .joint import JointTracker, Part
from .replay import ReplayTracker, TracksRecorder, load_tracks, replay_for
from .shots import ShotCuts
from .sort import SortTracker
from .stage import NoTracker, Tracker, TrackStage

__all__ = ["JointTracker", "NoTracker", "Part", "ReplayTracker", "ShotCuts", "SortTracker", "Tracker", "TrackStage",
           "TracksRecorder", "load_tracks", "replay_for"]
