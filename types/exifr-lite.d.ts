/** exifr's lite build (JPEG/HEIC/TIFF EXIF, GPS, orientation): it has no Node file loader, so bundlers see no computed import. */
declare module 'exifr/dist/lite.esm.mjs' {
  import exifr from 'exifr';
  export default exifr;
}
